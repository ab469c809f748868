#!/usr/bin/env python3
# openai.py: the openai plugin of tern (plugin.yaml): Kestra's ChatCompletion, Responses and CreateImage against OpenAI's API.
import base64
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

# Answers worth asking again (as OpenAI's own clients do): rate limits and the server's troubles.
RETRIED = (408, 409, 429, 500, 502, 503, 504)
ATTEMPTS = 3
RETRY_AFTER_MAX = 60.0


def say(what):
    print("::" + json.dumps(what) + "::", flush=True)


def log(level, message):
    say({"logs": [{"level": level, "message": message}]})


def fail(message):
    log("ERROR", message)
    sys.exit(1)


props = json.load(sys.stdin)
api_key = props.get("apiKey") or ""


def masked(text):
    """Text of an answer without the key (OpenAI's 401 message quotes part of it)."""
    text = str(text)
    return text.replace(api_key, "******") if len(api_key) >= 4 else text


def functions(given):
    """Kestra's function list ({name, description, parameters: [{name, type, description, required,
    enumValues}]}) as the API's JSON-schema one."""
    out = []
    for i, f in enumerate(given, 1):
        if not isinstance(f, dict) or not f.get("name"):
            fail("functions: entry %d must be a map with a name" % i)
        schema = {"type": "object", "properties": {}, "required": []}
        for p in f.get("parameters") or []:
            if not isinstance(p, dict) or not p.get("name") or not p.get("type"):
                fail("functions: parameters of '%s' must be maps with a name and a type" % f["name"])
            prop = {"type": p["type"]}
            if p.get("description"):
                prop["description"] = p["description"]
            if p.get("enumValues"):
                prop["enum"] = list(p["enumValues"])
            schema["properties"][p["name"]] = prop
            if p.get("required") in (True, "true"):
                schema["required"].append(p["name"])
        entry = {"name": f["name"], "parameters": schema}
        if f.get("description"):
            entry["description"] = f["description"]
        out.append(entry)
    return out


def request_body():
    messages = props.get("messages")
    if isinstance(messages, str):  # a rendered expression's JSON
        try:
            messages = json.loads(messages)
        except ValueError:
            fail("messages must be a list of {role, content}")
    messages = list(messages or [])
    for i, m in enumerate(messages, 1):
        if not isinstance(m, dict) or not m.get("role"):
            fail("messages: entry %d must be a map with a role and a content" % i)
    if props.get("prompt") is not None:
        messages.append({"role": "user", "content": props["prompt"]})
    if not messages:
        fail("Either `messages` or `prompt` must be set")
    body = {"model": props["model"], "messages": messages}
    if props.get("functions"):
        body["functions"] = functions(props["functions"])
    schema = props.get("jsonResponseSchema")
    if schema:
        # Structured outputs: the model answers JSON of this schema (content stays text, as in Kestra).
        if isinstance(schema, str):
            try:
                schema = json.loads(schema)
            except ValueError as e:
                fail("jsonResponseSchema is not JSON: %s" % e)
        if not isinstance(schema, dict):
            fail("jsonResponseSchema must be a JSON schema object")
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}
    call = props.get("functionCall")
    if call:
        body["function_call"] = call if call in ("auto", "none") else {"name": call}
    for ours, theirs in (("temperature", "temperature"), ("topP", "top_p"), ("n", "n"), ("stop", "stop"),
                         ("maxTokens", "max_tokens"), ("presencePenalty", "presence_penalty"),
                         ("frequencyPenalty", "frequency_penalty"), ("logitBias", "logit_bias"), ("user", "user")):
        if props.get(ours) is not None:
            body[theirs] = props[ours]
    return body


def error_of(status, text):
    """OpenAI's own words for an error answer ({"error": {"message", "type", "code"}}), or its start."""
    try:
        e = json.loads(text).get("error") or {}
        words = e.get("message") or ""
        kind = e.get("code") or e.get("type")
        if words:
            return masked(words + (" (%s)" % kind if kind else ""))
    except (ValueError, AttributeError):
        pass
    return masked(text.strip()[:300]) or "no explanation"


def post(url, body, timeout):
    data = json.dumps(body).encode()
    host = urllib.parse.urlsplit(url).hostname
    for attempt in range(1, ATTEMPTS + 1):
        req = urllib.request.Request(url, data=data, method="POST", headers={
            "Content-Type": "application/json", "Authorization": "Bearer " + api_key, "User-Agent": "tern-openai"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as answer:
                return answer.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as e:
            text = e.read(65536).decode("utf-8", errors="replace")
            why = error_of(e.code, text)
            if e.code == 401:
                fail("OpenAI refused the API key (HTTP 401): %s" % why)
            if e.code not in RETRIED or attempt == ATTEMPTS:
                fail("OpenAI answered HTTP %d%s: %s" % (e.code, " after %d attempts" % attempt if attempt > 1 else "", why))
            try:
                wait = min(float(e.headers.get("Retry-After", "")), RETRY_AFTER_MAX)
            except ValueError:
                wait = 0.5 * 2 ** (attempt - 1)
            log("WARN", "OpenAI answered HTTP %d (%s): retrying in %gs (attempt %d of %d)" %
                (e.code, why, max(wait, 0), attempt + 1, ATTEMPTS))
            time.sleep(max(wait, 0))
        except (urllib.error.URLError, OSError) as e:
            if attempt == ATTEMPTS:
                fail("cannot reach %s: %s" % (host, masked(getattr(e, "reason", e))))
            log("WARN", "cannot reach %s: %s: retrying (attempt %d of %d)" % (host, masked(getattr(e, "reason", e)),
                                                                            attempt + 1, ATTEMPTS))
            time.sleep(0.5 * 2 ** (attempt - 1))


def answer_of(text):
    try:
        result = json.loads(text)
    except ValueError:
        fail("OpenAI's answer is not JSON: %s" % masked(text.strip()[:200]))
    return result


def responses(base, timeout):
    """Kestra's Responses: POST /responses; outputText (the message's text, else a function call's
    arguments), sources (the URLs cited), responseId, rawResponse."""
    given = props.get("input")
    if given is None or given == "" or given == []:
        fail("input is required")
    if isinstance(given, str) and given.lstrip().startswith("["):  # a rendered expression's JSON
        try:
            given = json.loads(given)
        except ValueError:
            pass
    body = {"model": props["model"], "input": given, "store": props.get("store", True) not in (False, "false"),
            "temperature": props.get("temperature", 1.0), "top_p": props.get("topP", 1.0),
            "tool_choice": str(props.get("toolChoice") or "AUTO").lower()}
    for ours, theirs in (("text", "text"), ("tools", "tools"), ("previousResponseId", "previous_response_id"),
                         ("reasoning", "reasoning"), ("maxOutputTokens", "max_output_tokens"),
                         ("parallelToolCalls", "parallel_tool_calls"), ("user", "user")):
        if props.get(ours) not in (None, "", []):
            body[theirs] = props[ours]
    result = answer_of(post(base + "/responses", body, timeout))
    if not isinstance(result, dict) or not isinstance(result.get("output"), list):
        fail("OpenAI's answer is not a response (no output): %s" % masked(json.dumps(result)[:200]))
    texts, calls, sources = [], [], []
    for item in result["output"]:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "function_call":
            calls.append(item.get("arguments") or "")
        for content in item.get("content") or [] if item.get("type") == "message" else []:
            if isinstance(content, dict) and content.get("type") == "output_text":
                texts.append(content.get("text") or "")
                sources += [a["url"] for a in content.get("annotations") or []
                            if isinstance(a, dict) and a.get("type") == "url_citation" and a.get("url")]
    say({"outputs": {"responseId": result.get("id"), "outputText": "".join(texts) if texts else "".join(calls),
                     "sources": sources, "rawResponse": result}})
    usage = result.get("usage") if isinstance(result.get("usage"), dict) else {}
    metrics = [{"name": name, "type": "counter", "value": usage[k], "tags": {}}
               for name, k in (("usage.prompt.tokens", "input_tokens"), ("usage.completion.tokens", "output_tokens"),
                               ("usage.total.tokens", "total_tokens")) if isinstance(usage.get(k), (int, float))]
    if metrics:
        say({"metrics": metrics})
    log("INFO", "%s answered (%s)%s" % (result.get("model") or props["model"], result.get("status") or "no status",
                                        ", %s tokens" % usage["total_tokens"] if "total_tokens" in usage else ""))


IMAGE_SIZES = {"SMALL": "256x256", "MEDIUM": "512x512", "LARGE": "1024x1024"}
# Where a file kept in internal storage is written (the worker's exec-plugin convention, docs/PLUGINS.md).
STORE_DIR = ".tern-store"


def create_image(base, timeout):
    """Kestra's CreateImage: POST /images/generations; images: the images' URLs, or with download
    the images (PNG) kept in internal storage, their kestra:/// URIs."""
    if not props.get("prompt"):
        fail("prompt is required")
    download = props.get("download") in (True, "true")
    body = {"prompt": props["prompt"], "size": IMAGE_SIZES[props.get("size") or "LARGE"],
            "response_format": "b64_json" if download else "url"}
    for ours, theirs in (("n", "n"), ("user", "user")):
        if props.get(ours) is not None:
            body[theirs] = props[ours]
    result = answer_of(post(base + "/images/generations", body, timeout))
    data = result.get("data") if isinstance(result, dict) else None
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        fail("OpenAI's answer is not images (no data): %s" % masked(json.dumps(result)[:200]))
    images = []
    for i, image in enumerate(data, 1):
        if not download:
            if not image.get("url"):
                fail("OpenAI's image %d has no url" % i)
            images.append(image["url"])
            continue
        try:
            png = base64.b64decode(image.get("b64_json") or "", validate=True)
        except ValueError:
            png = b""
        if not png:
            fail("OpenAI's image %d has no b64_json image" % i)
        os.makedirs(STORE_DIR, exist_ok=True)
        path = os.path.join(STORE_DIR, "image-%d.png" % i)
        with open(path, "wb") as f:
            f.write(png)
        images.append(path)
    say({"outputs": {"images": images}})
    log("INFO", "%d image(s) created%s" % (len(images), ", kept in internal storage" if download else ""))


def main():
    if not api_key:
        fail("apiKey is empty")
    base = (props.get("baseUrl") or "https://api.openai.com/v1").rstrip("/")
    if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
        fail("baseUrl must be an http or https URL")
    timeout = float(props.get("clientTimeout") or 10)
    if os.environ.get("TERN_TASK_TYPE", "").endswith(".Responses"):
        return responses(base, timeout)
    if os.environ.get("TERN_TASK_TYPE", "").endswith(".CreateImage"):
        return create_image(base, timeout)
    text = post(base + "/chat/completions", request_body(), timeout)
    result = answer_of(text)
    if not isinstance(result, dict) or not isinstance(result.get("choices"), list):
        fail("OpenAI's answer is not a chat completion (no choices): %s" % masked(text.strip()[:200]))
    for choice in result["choices"]:
        call = (choice.get("message") or {}).get("function_call") if isinstance(choice, dict) else None
        # Kestra gives a function call's arguments as an object: {{ ...function_call.arguments.x }}.
        if isinstance(call, dict) and isinstance(call.get("arguments"), str):
            try:
                call["arguments"] = json.loads(call["arguments"])
            except ValueError:
                pass
    usage = result.get("usage") if isinstance(result.get("usage"), dict) else {}
    say({"outputs": {"id": result.get("id"), "object": result.get("object"), "model": result.get("model"),
                     "choices": result["choices"], "usage": usage}})
    metrics = [{"name": "usage." + k, "type": "counter", "value": usage[k], "tags": {}}
               for k in ("prompt_tokens", "completion_tokens", "total_tokens") if isinstance(usage.get(k), (int, float))]
    if metrics:
        say({"metrics": metrics})
    log("INFO", "%s answered with %d choice(s)%s" % (result.get("model") or props["model"], len(result["choices"]),
                                                     ", %s tokens" % usage["total_tokens"] if "total_tokens" in usage else ""))


main()
