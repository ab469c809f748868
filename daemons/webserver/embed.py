#!/usr/bin/env python3
# embed.py IN OUT NAME: a C file defining "const char NAME[]" with IN's text (the OpenAPI document).
import sys
data = open(sys.argv[1], encoding="utf-8").read()
with open(sys.argv[2], "w") as out:
    out.write("/* Generated from %s by embed.py. */\n" % sys.argv[1].split("/")[-1])
    out.write("const char %s[] =\n" % sys.argv[3])
    for line in data.splitlines(True):
        out.write('        "%s"\n' % line.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n"))
    out.write("        ;\n")
