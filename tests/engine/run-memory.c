/* run-memory: run one flow to its end with the in-memory driver and print the execution as JSON
 * (the same shape as `tern run --output json`). For engine debugging and the compat runner's
 * "memory" mode, which needs no database.
 *
 *   run-memory FLOW.yaml [--flows DIR] [--inputs-json JSON] [--raw-inputs] [--labels-json JSON] */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup-jansson.h"
#include "driver.h"
#include "strutil.h"

static Flow *load(const char *path) {
        Flow *f = NULL;
        FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
        if (flow_load_file(path, &f, &diags) != 0) {
                flow_diagnostics_print(&diags, stderr);
                f = NULL;
        }
        flow_diagnostics_done(&diags);
        return f;
}

int main(int argc, char *argv[]) {
        static const struct option opts[] = {
                { "flows", required_argument, NULL, 'f' },
                { "inputs-json", required_argument, NULL, 'i' },
                { "raw-inputs", no_argument, NULL, 'r' },
                { "labels-json", required_argument, NULL, 'l' },
                { "output", required_argument, NULL, 'o' }, /* always json; accepted for `tern run` parity */
                { "label", required_argument, NULL, 'L' },
                { "include-logs", no_argument, NULL, 'I' }, /* logs are always included */
                {},
        };
        const char *flows_dir = NULL, *inputs_json = NULL, *labels_json = NULL;
        _cleanup_json_ json_t *labels = NULL;
        bool raw = false;
        int c;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (c) {
                case 'f': flows_dir = optarg; break;
                case 'i': inputs_json = optarg; break;
                case 'r': raw = true; break;
                case 'l': labels_json = optarg; break;
                case 'o':
                case 'I':
                        break;
                case 'L': {
                        const char *eq = strchr(optarg, '=');
                        if (!eq)
                                return 2;
                        if (!labels)
                                labels = json_object();
                        _cleanup_free_ char *k = strndup(optarg, (size_t) (eq - optarg));
                        json_object_set_new(labels, k, json_string(eq + 1));
                        break;
                }
                default: return 2;
                }
        if (optind != argc - 1) {
                fprintf(stderr, "usage: run-memory FLOW.yaml [--flows DIR] [--inputs-json JSON] [--raw-inputs]\n");
                return 2;
        }
        char workdir[] = "/tmp/tern-run-memory-XXXXXX";
        if (!mkdtemp(workdir))
                return 1;
        _cleanup_(driver_freep) Driver *d = NULL;
        if (driver_new(workdir, &d) < 0)
                return 1;
        Flow *main_flow = load(argv[optind]);
        if (!main_flow)
                return 1;
        driver_add_flow(d, main_flow);
        if (flows_dir) {
                DIR *dir = opendir(flows_dir);
                struct dirent *de;
                while (dir && (de = readdir(dir))) {
                        if (!endswith(de->d_name, ".yaml") && !endswith(de->d_name, ".yml"))
                                continue;
                        _cleanup_free_ char *p = strjoin(flows_dir, "/", de->d_name);
                        FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
                        Flow *f = NULL;
                        if (flow_load_file(p, &f, &diags) == 0)
                                driver_add_flow(d, f);
                        flow_diagnostics_done(&diags);
                }
                if (dir)
                        closedir(dir);
        }
        _cleanup_json_ json_t *supplied = inputs_json ? json_loads(inputs_json, 0, NULL) : json_object(), *inputs = NULL;
        if (labels_json) {
                json_decref(labels);
                labels = json_loads(labels_json, 0, NULL);
        }
        _cleanup_free_ char *err = NULL;
        if (raw) {
                /* Values as given, defaults for the rest, no validation (as Kestra's tests do). */
                inputs = json_object();
                for (size_t i = 0; i < main_flow->n_inputs; i++)
                        if (main_flow->inputs[i].defaults)
                                json_object_set(inputs, main_flow->inputs[i].id, main_flow->inputs[i].defaults);
                json_object_update(inputs, supplied);
        } else if (flow_inputs_resolve(main_flow, supplied, &inputs, &err) < 0) {
                fprintf(stderr, "run-memory: invalid inputs: %s\n", err);
                return 1;
        }
        Execution *e = NULL;
        if (driver_start(d, main_flow, inputs, labels, &e) < 0 || driver_run(d, 30 * USEC_PER_SEC) < 0)
                return 1;
        _cleanup_json_ json_t *j = execution_to_json(e);
        json_object_set(j, "logs", driver_logs(d));
        json_dumpf(j, stdout, JSON_INDENT(1));
        printf("\n");
        _cleanup_free_ char *rm = strjoin("rm -rf ", workdir);
        (void) !system(rm);
        return e->state.current == STATE_SUCCESS ? 0 : 1;
}
