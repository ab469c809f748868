#!/usr/bin/env python3
# test-man-pages: the manual pages keep up with the code (TAP): every tern.conf key that
# lib/runtime/config.c parses is in tern.conf(5) under its section, with its default and its
# environment variable; every command group that `tern --help` lists has its page
# (man/tern-GROUP.1.scd), which describes each of its commands and names every option that
# `tern GROUP COMMAND --help` prints; each daemon's options are in its page; and the generated
# tern-flow(5) names every task type of lib/flow/task-types.c and every filter and function of the
# expression engine.
import os
import re
import subprocess
import sys

src = os.environ["TERN_SOURCE_ROOT"]
build = os.environ["TERN_BUILD_ROOT"]
tern = os.environ["TERN"]
n = 0
failed = 0


def ok(cond, name, detail=""):
    global n, failed
    n += 1
    print(("ok" if cond else "not ok") + f" {n} - {name}")
    if not cond:
        failed += 1
        for line in detail.splitlines():
            print("# " + line)


def page(name):
    with open(os.path.join(src, "man", name + ".scd")) as f:
        return f.read()


def entries(text):
    """The page's definition entries: (heading, term line, whole entry text)."""
    heading, out, cur = "", [], None
    for line in text.splitlines():
        if line.startswith("#"):
            heading, cur = line.lstrip("# ").strip(), None
        elif line.startswith("*"):
            cur = [heading, line, line]
            out.append(cur)
        elif line.startswith("\t") and cur:
            cur[2] += "\n" + line
        else:
            cur = None
    return out


# tern.conf(5): every key of config_keys[].
with open(os.path.join(src, "lib", "runtime", "config.c")) as f:
    keys = re.findall(r'^\s*K\("([a-z-]+)", "([a-z-]+)",', f.read(), re.M)
ok(len(keys) >= 20, f"config.c's keys found ({len(keys)})")
conf = entries(page("tern.conf.5"))
for section, key in keys:
    env = "TERN_" + (section + "_" + key).upper().replace("-", "_")
    found = [e for e in conf if e[0] == f"[{section}]" and f"*{key}*" in e[1]]
    ok(len(found) == 1, f"tern.conf(5) describes {section}.{key} in [{section}]")
    if found:
        text = found[0][2]
        ok("Default:" in text, f"tern.conf(5) gives the default of {section}.{key}", text)
        ok(f"*{env}*" in text, f"tern.conf(5) names {env} for {section}.{key}", text)


def help_of(argv):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p.returncode, p.stdout


def options(text):
    """Every long option and every short option (as in '  -w, --workers') a --help prints."""
    opts = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text))
    opts |= set(re.findall(r"^\s+(-[a-zA-Z]),", text, re.M))
    return sorted(opts)


def check_options(argv, name):
    rc, text = help_of(argv)
    ok(rc == 0, f"{' '.join(argv[1:] if argv[0] == tern else argv)} exits 0", text)
    body = page(name)
    opts = options(text)
    missing = [o for o in opts if f"*{o}*" not in body]
    # A command without options (tern kafka topics) still prints its usage: none parsed from a help
    # that has no usage line is a help this test cannot read, not a command without options.
    ok((opts or text.startswith("Usage:")) and not missing,
       f"{name} names every option of {os.path.basename(argv[0])} {' '.join(argv[1:])} ({len(opts)})",
       "missing: " + " ".join(missing))
    return text


def page_path(name):
    return os.path.join(src, "man", name + ".scd")


def commands_of(text):
    """The commands a group's --help lists under "Commands:"."""
    if "Commands:" not in text:
        return []
    return re.findall(r"^  ([a-z][a-z-]*)", text.split("Commands:", 1)[1].split("\n\n", 1)[0], re.M)


# Groups documented in another group's page.
page_of_group = {"backfill": "tern-trigger.1"}


def check_group(words, name):
    """`tern WORDS...`: its page describes each command, and names every option of each."""
    rc, text = help_of([tern, *words, "--help"])
    cmds = commands_of(text)
    ok(rc == 0 and cmds, f"tern {' '.join(words)} --help lists its commands ({', '.join(cmds)})", text)
    entries_ = entries(page(name))
    for c in cmds:
        rc, sub = help_of([tern, *words, c, "--help"])
        if commands_of(sub):  # a group inside the group (tern namespace files ...)
            check_group([*words, c], name)
            continue
        group = " ".join(words[1:] + [c]) if len(words) > 1 else c
        pat = re.compile(r"\*(?:%s )?%s\*" % (re.escape(words[0]), re.escape(group)))
        ok(any(e[0] == "COMMANDS" and pat.search(e[1]) for e in entries_),
           f"{name} describes `tern {' '.join(words)} {c}` in COMMANDS",
           f"add an entry '*{group}*' under '# COMMANDS' in man/{name}.scd")
        check_options([tern, *words, c, "--help"], name)


rc, top = help_of([tern, "--help"])
groups = re.findall(r"^  ([a-z][a-z-]*) COMMAND", top, re.M)
ok(rc == 0 and len(groups) >= 5, f"tern --help lists its command groups ({', '.join(groups)})", top)
check_options([tern, "run", "--help"], "tern-run.1")
for g in groups:
    name = page_of_group.get(g, f"tern-{g}.1")
    if g == "server":
        continue  # below: its commands are components, with options of their own
    exists = os.path.exists(page_path(name))
    ok(exists, f"`tern {g}` has its manual page {name}",
       f"no man/{name}.scd: write it (a COMMANDS entry per command, every option of "
       f"'tern {g} COMMAND --help'), and add it to man_pages in man/meson.build and to "
       f"%files common in packaging/rpm/tern.spec")
    if exists:
        check_group([g], name)
    with open(os.path.join(src, "man", "meson.build")) as f:
        listed = f"'{name}'" in f.read()
    ok(listed, f"man/meson.build builds and installs {name}", f"add '{name}' to man_pages in man/meson.build")

text = check_options([tern, "server", "--help"], "tern-server.1")
commands = re.findall(r"^  ([a-z]+) ", text.split("Commands:", 1)[-1], re.M)
ok(len(commands) >= 5, f"tern server --help lists its commands ({', '.join(commands)})")
server = entries(page("tern-server.1"))
for c in commands:
    ok(any(e[0] == "COMMANDS" and e[1].strip() == f"*{c}*" for e in server),
       f"tern-server(1) describes the command {c}")
    check_options([tern, "server", c, "--help"], "tern-server.1")
for c in ["executor", "worker", "scheduler", "webserver"]:
    check_options([os.path.join(build, "daemons", c, "tern-" + c), "--help"], f"tern-{c}.8")

# tern-flow(5), generated at build time: checked against the sources themselves, not against the
# generator's view of them.
flow_page = os.path.join(build, "man", "tern-flow.5.scd")
ok(os.path.exists(flow_page), "the build generated man/tern-flow.5.scd")
generated = open(flow_page).read() if os.path.exists(flow_page) else ""
unescaped = generated.replace("\\", "")
left = [line for line in generated.splitlines() if line.startswith("%%") or re.fullmatch(r"@[A-Z_]+@", line)]
ok(generated and not left, "the generator filled every part of man/tern-flow.5.scd.in", "unfilled: " + " ".join(left))
with open(os.path.join(src, "lib", "flow", "task-types.c")) as f:
    types = re.findall(r'NAMES\("(io\.kestra\.[A-Za-z0-9_.]+)"', f.read())
missing = [t for t in types if f"*{t}*" not in unescaped]
ok(len(types) >= 50 and not missing, f"tern-flow(5) describes every type of the registry ({len(types)})",
   "missing: " + " ".join(missing))
with open(os.path.join(src, "lib", "flow", "expr-filters.c")) as f:
    text = f.read()
filters = re.findall(r'^\s*\{ "([A-Za-z0-9_]+)", [a-z_]+, (?:true|false) \},', text, re.M)
with open(os.path.join(src, "lib", "flow", "expr-functions.c")) as f:
    functions = re.findall(r'^\s*\{ "([A-Za-z0-9_]+)", [a-z_]+ \},', f.read(), re.M)
missing = [x for x in filters if f"*{x}*" not in unescaped] + [x + "()" for x in functions if f"*{x}()*" not in unescaped]
ok(len(filters) >= 40 and len(functions) >= 10 and not missing,
   f"tern-flow(5) names every filter ({len(filters)}) and function ({len(functions)}) of the expression engine",
   "missing: " + " ".join(missing))
roff = os.path.join(build, "man", "tern-flow.5")
ok(not os.path.exists(os.path.join(build, "man", "tern.1")) or os.path.exists(roff),
   "scdoc built tern-flow.5 with the other pages")

print(f"1..{n}")
sys.exit(1 if failed else 0)
