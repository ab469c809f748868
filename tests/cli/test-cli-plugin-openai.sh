#!/usr/bin/env bash
# test-cli-plugin-openai: the shipped openai plugin (plugins/openai, an exec plugin) end to end: 'tern run'
# asks a Chat Completions server for a completion from the sandbox with the host's network, with a
# prompt, with messages and functions (a function call's arguments as an object downstream), asks
# its Responses API with a tool (the text and the URLs cited downstream), creates images (their URLs,
# or the images kept in internal storage and read by a later task), is
# retried past a rate limit, and fails clearly on a refused key (without the key) and on a malformed
# answer (TAP). OpenAI's API is not reachable here: the server is a small one of this test, on
# loopback, that answers the request and response shapes of POST /v1/chat/completions, /v1/responses and
# /v1/images/generations.
set -u
. "$(dirname "$0")/plugin-test-lib.sh"
plugin_test openai openai

# The server: every request (path, Authorization, body) one JSON line. By model: "gpt-test" echoes the
# last message; "fn-test" calls the first function; "busy-test" is rate limited once; "broken-test"
# answers what is no JSON. A key other than sk-good is refused as OpenAI does (quoting it).
cat >"$dir/server.py" <<'PY'
import json, sys
from plugin_http import Handler, serve
seen = {}
class H(Handler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        auth = self.headers.get("Authorization", "")
        with open(sys.argv[1], "a") as f:
            f.write(json.dumps({"path": self.path, "auth": auth, "body": body}) + "\n")
        if self.path == "/v1/responses" and auth == "Bearer sk-good":
            return self.answer(200, {"id": "resp_7", "object": "response", "status": "completed", "model": body.get("model"),
                                     "output": [{"type": "web_search_call", "id": "ws_1", "status": "completed"},
                                                {"type": "message", "role": "assistant", "content": [
                                                    {"type": "output_text", "text": "Kestra is an orchestrator.",
                                                     "annotations": [{"type": "url_citation", "url": "https://kestra.io/docs"}]}]}],
                                     "usage": {"input_tokens": 5, "output_tokens": 6, "total_tokens": 11}})
        if self.path == "/v1/images/generations" and auth == "Bearer sk-good":
            png = __import__("base64").b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
            data = [{"b64_json": png} if body.get("response_format") == "b64_json" else {"url": "https://images.example/%d.png" % i}
                    for i in range(body.get("n") or 1)]
            return self.answer(200, {"created": 1700000000, "data": data})
        if self.path != "/v1/chat/completions":
            return self.answer(404, {"error": {"message": "Unknown request URL", "type": "invalid_request_error"}})
        if auth != "Bearer sk-good":
            return self.answer(401, {"error": {"message": "Incorrect API key provided: %s." % auth[7:],
                                               "type": "invalid_request_error", "code": "invalid_api_key"}})
        model = body.get("model")
        seen[model] = seen.get(model, 0) + 1
        if model == "busy-test" and seen[model] == 1:
            return self.answer(429, {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}},
                               [("Retry-After", "0")])
        if model == "broken-test":
            return self.answer(200, b"<html>upstream hiccup</html>")
        message = {"role": "assistant", "content": "echo: " + str(body["messages"][-1]["content"])}
        if model == "fn-test":
            f = body["functions"][0]
            message = {"role": "assistant", "content": None,
                       "function_call": {"name": f["name"], "arguments": json.dumps({"urgency": "reply_immediately", "text": "Thanks!"})}}
        self.answer(200, {"id": "chatcmpl-42", "object": "chat.completion", "created": 1700000000, "model": model + "-0613",
                          "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                          "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}})
serve(H)
PY
plugin_server
base=$url/v1

cat >"$dir/openai.yaml" <<YAML
id: openai
namespace: test.plugins
tasks:
  - id: prompt
    type: io.kestra.plugin.openai.ChatCompletion
    apiKey: "{{ secret('OPENAI_API_KEY') }}"
    baseUrl: $base
    model: gpt-test
    prompt: What is data orchestration?
    temperature: 0.2
    maxTokens: 50
    jsonResponseSchema: |
      {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
  - id: answer
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.prompt.choices[0].message.content }}"
  - id: fn
    type: io.kestra.plugin.openai.ChatCompletion
    apiKey: sk-good
    baseUrl: $base
    model: fn-test
    messages:
      - role: system
        content: You triage reviews.
      - role: user
        content: I love your product!
    functions:
      - name: respond_to_review
        description: How urgently to reply, and what
        parameters:
          - name: urgency
            type: string
            description: how urgent
            required: true
            enumValues: [reply_immediately, reply_later]
          - name: text
            type: string
            description: the reply
    functionCall: respond_to_review
  - id: urgency
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.fn.choices[0].message.function_call.arguments.urgency }}"
  - id: responses
    type: io.kestra.plugin.openai.Responses
    apiKey: sk-good
    baseUrl: $base
    model: gpt-4.1-mini
    input: Explain what Kestra is
    toolChoice: REQUIRED
    store: false
    tools:
      - type: web_search_preview
  - id: responses_log
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.responses.outputText }} ({{ outputs.responses.sources[0] }})"
  - id: image_urls
    type: io.kestra.plugin.openai.CreateImage
    apiKey: sk-good
    baseUrl: $base
    prompt: a puppy
    n: 2
    size: SMALL
  - id: image_download
    type: io.kestra.plugin.openai.CreateImage
    apiKey: sk-good
    baseUrl: $base
    prompt: a kitten
    download: true
  - id: image_read
    type: io.kestra.plugin.scripts.shell.Commands
    inputFiles:
      image.png: "{{ outputs.image_download.images[0] }}"
    commands:
      - 'echo "image: \$(wc -c < image.png) bytes ending \$(tail -c 4 image.png)"'
  - id: busy
    type: io.kestra.plugin.openai.ChatCompletion
    apiKey: sk-good
    baseUrl: $base
    model: busy-test
    prompt: again
  - id: refused
    type: io.kestra.plugin.openai.ChatCompletion
    allowFailure: true
    apiKey: sk-wrong-0123456789
    baseUrl: $base
    model: gpt-test
    prompt: hello
  - id: broken
    type: io.kestra.plugin.openai.ChatCompletion
    allowFailure: true
    apiKey: sk-good
    baseUrl: $base
    model: broken-test
    prompt: hello
YAML

plugin_validates "$dir/openai.yaml"
printf 'id: bad\nnamespace: test.plugins\ntasks:\n  - id: c\n    type: io.kestra.plugin.openai.ChatCompletion\n    prompt: hi\n' \
        >"$dir/bad.yaml"
"$TERN" flow validate --plugins-path "$plugin" "$dir/bad.yaml" >"$dir/bad.txt" 2>&1
[ $? -ne 0 ] && grep -q "apiKey" "$dir/bad.txt" && grep -q "model" "$dir/bad.txt"
ok $? "validation refuses a ChatCompletion without apiKey and model ($(head -c 300 "$dir/bad.txt" | tr "\n" " "))"
SECRET_OPENAI_API_KEY=$(printf 'sk-good' | base64 -w0) plugin_run "$dir/openai.yaml" --sandbox-network
plugin_show

plugin_check <<'PY'
import json, os, sys
from plugin_tap import *  # noqa: F401,F403 (ok, run, got, state, out, logs, err, done)
show = load("show.json")
vars_ = lambda t: out(t).get("vars", out(t))
req = lambda model: [g for g in got if g["body"].get("model") == model]

ok(state("prompt") == "SUCCESS", "prompt: the completion succeeds (%s: %r)" % (state("prompt"), open(d + "/run.err").read()[:300]))
p = req("gpt-test")[:1]
ok(p and p[0]["path"] == "/v1/chat/completions" and p[0]["auth"] == "Bearer sk-good" and
   p[0]["body"] == {"model": "gpt-test", "messages": [{"role": "user", "content": "What is data orchestration?"}],
                    "temperature": 0.2, "max_tokens": 50,
                    "response_format": {"type": "json_schema", "json_schema": {"name": "response", "schema": {
                        "type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}}}},
   "prompt: POST /chat/completions with the key as a bearer token, the prompt as a user message, the options by the "
   "API's names, jsonResponseSchema as response_format %r" % p)
v = vars_("prompt")
ok(v.get("id") == "chatcmpl-42" and v.get("object") == "chat.completion" and v.get("model") == "gpt-test-0613" and
   v.get("usage") == {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12} and
   v.get("choices", [{}])[0].get("finish_reason") == "stop",
   "prompt: outputs id, object, model, choices, usage as Kestra names them %r" % v)
ok(vars_("answer").get("value") == "echo: What is data orchestration?",
   "{{ outputs.prompt.choices[0].message.content }} downstream: %r" % vars_("answer"))
ms = {(m["taskId"], m["name"]): m["value"] for m in show.get("metrics", [])}
ok(ms.get(("prompt", "usage.total_tokens")) == 12 and ms.get(("prompt", "usage.prompt_tokens")) == 9,
   "the usage counters are metrics: %r" % ms)

f = req("fn-test")[:1]
fn = f[0]["body"] if f else {}
ok(fn.get("messages") == [{"role": "system", "content": "You triage reviews."}, {"role": "user", "content": "I love your product!"}] and
   fn.get("functions") == [{"name": "respond_to_review", "description": "How urgently to reply, and what",
                            "parameters": {"type": "object", "properties": {
                                "urgency": {"type": "string", "description": "how urgent", "enum": ["reply_immediately", "reply_later"]},
                                "text": {"type": "string", "description": "the reply"}}, "required": ["urgency"]}}] and
   fn.get("function_call") == {"name": "respond_to_review"},
   "functions: Kestra's parameter list sent as the API's JSON schema, functionCall by name %r" % fn)
ok(state("fn") == "SUCCESS" and vars_("urgency").get("value") == "reply_immediately",
   "a function call's arguments are an object downstream: %r" % vars_("urgency"))

r = [g for g in got if g["path"] == "/v1/responses"][:1]
ok(r and r[0]["body"] == {"model": "gpt-4.1-mini", "input": "Explain what Kestra is", "store": False, "temperature": 1.0,
                          "top_p": 1.0, "tool_choice": "required", "tools": [{"type": "web_search_preview"}]},
   "Responses: POST /responses with the input, the tools, toolChoice and store, Kestra's defaults for temperature and topP %r" % r)
v = vars_("responses")
ok(state("responses") == "SUCCESS" and v.get("responseId") == "resp_7" and v.get("outputText") == "Kestra is an orchestrator." and
   v.get("sources") == ["https://kestra.io/docs"] and v.get("rawResponse", {}).get("status") == "completed",
   "Responses: outputs responseId, outputText (the message's text), sources (the URLs cited), rawResponse %r" % v)
ok(vars_("responses_log").get("value") == "Kestra is an orchestrator. (https://kestra.io/docs)" and
   ms.get(("responses", "usage.total.tokens")) == 11,
   "Responses: outputText downstream, usage counters as Kestra names them (%r)" % vars_("responses_log"))

im = [g["body"] for g in got if g["path"] == "/v1/images/generations"]
ok(state("image_urls") == "SUCCESS" and vars_("image_urls").get("images") == ["https://images.example/0.png", "https://images.example/1.png"] and
   im[:1] == [{"prompt": "a puppy", "size": "256x256", "response_format": "url", "n": 2}],
   "CreateImage: POST /images/generations with the prompt, n and size, the images' URLs as images %r %r" % (im[:1], vars_("image_urls")))
imgs = vars_("image_download").get("images") or []
ok(state("image_download") == "SUCCESS" and len(imgs) == 1 and imgs[0].startswith("kestra:///") and imgs[0].endswith(".png") and
   im[1:2] == [{"prompt": "a kitten", "size": "1024x1024", "response_format": "b64_json"}],
   "CreateImage with download: the image asked as b64_json, kept in internal storage, its URI as images %r %r" % (im[1:2], imgs))
ok(("INFO", "image: 12 bytes ending fake") in logs("image_read"),
   "the downloaded image is read by a later task through its URI: %r" % logs("image_read"))

ok(state("busy") == "SUCCESS" and len(req("busy-test")) == 2 and
   any(lv == "WARN" and m.startswith("OpenAI answered HTTP 429 (Rate limit reached (rate_limit_exceeded)): retrying") for lv, m in logs("busy")),
   "a rate limit (HTTP 429) is retried, saying so, and the task succeeds (%s, %d requests, %r)" % (state("busy"), len(req("busy-test")), logs("busy")))

ok(state("refused") == "FAILED" and
   ("ERROR", "OpenAI refused the API key (HTTP 401): Incorrect API key provided: ******. (invalid_api_key)") in logs("refused"),
   "a refused key fails the task saying why: %r" % logs("refused"))
ok("sk-wrong-0123456789" not in json.dumps(run) and "sk-good" not in json.dumps(run.get("logs")),
   "the API key is in no log line nor output")
ok(state("broken") == "FAILED" and ("ERROR", "OpenAI's answer is not JSON: <html>upstream hiccup</html>") in logs("broken"),
   "a malformed answer fails the task saying so: %r" % logs("broken"))
ok(run.get("state", {}).get("current") == "WARNING", "the flow ends WARNING: the failures were allowed (%s)" % run.get("state"))
done()
PY
