#!/usr/bin/env python3
# greet.py: an exec plugin of tern (docs/PLUGINS.md): properties as JSON on stdin, Kestra's ::{...}:: lines out.
import json
import sys
import time


def send(message):
    print("::" + json.dumps(message) + "::", flush=True)


props = json.load(sys.stdin)
time.sleep(props["sleep"])
names = [props["name"]]
if props.get("names"):  # a file property: a path in the working directory
    with open(props["names"]) as f:
        names += [line.strip() for line in f if line.strip()]
if props["fail"]:
    send({"logs": [{"level": "ERROR", "message": "asked to fail"}]})
    sys.exit(3)
greeting = ""
with open("greetings.txt", "w") as out:
    for name in names:
        for _ in range(props["times"]):
            greeting = "Hello, %s!" % name
            greeting = greeting.upper() if props["style"] == "LOUD" else greeting
            send({"logs": [{"level": "INFO", "message": greeting}]})
            out.write(greeting + "\n")
send({"outputs": {"greeting": greeting, "count": len(names)}})
send({"metrics": [{"name": "greetings", "type": "counter", "value": len(names) * props["times"],
                   "tags": {"style": props["style"]}}]})
