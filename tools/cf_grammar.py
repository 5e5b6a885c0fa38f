#!/usr/bin/env python3
"""Extracts cf's command grammar from a checkout of cloudfoundry/cli and
prints it as the Rust table of src/capture/commands.rs.

Why a script: the table must agree with the real cf, command by command and
flag by flag, and a person copying ~200 structs by hand gets some wrong. The
script reads the same struct tags go-flags reads (`command`, `alias`,
`hidden`, `long`, `short`), follows embedded structs, and decides from the Go
type how go-flags parses each flag:

  bool (or []bool, func)              -> Switch (takes no value)
  a type implementing IsValidValue    -> Number  (cf's validators accept "-1")
  int/float kinds (incl. *int, []int) -> Number  (go-flags accepts "-5")
  anything else                       -> Value   (a following "-x" is refused)

Usage: tools/cf_grammar.py GIT_DIR [REF [--update src/capture/commands.rs]]
   e.g. tools/cf_grammar.py /work/.mirror/cloudfoundry+cli/repo v8
"""

import re
import subprocess
import sys

GIT_DIR = sys.argv[1]
REF = sys.argv[2] if len(sys.argv) > 2 else "v8"

PACKAGES = {
    "v7": "command/v7",
    "plugin": "command/plugin",
    "common": "command/common",
    "flag": "command/flag",
    "shared": "command/v7/shared",
}


def git(*args):
    return subprocess.run(
        ["git", "--git-dir", GIT_DIR, *args], check=True, capture_output=True, text=True
    ).stdout


COMMIT = git("rev-parse", REF).strip()


def package_sources(pkg_dir):
    names = git("ls-tree", "--name-only", f"{COMMIT}:{pkg_dir}").split()
    for name in names:
        if name.endswith(".go") and not name.endswith("_test.go"):
            yield git("show", f"{COMMIT}:{pkg_dir}/{name}")


STRUCT_RE = re.compile(r"^type (\w+) struct \{\n(.*?)^\}", re.S | re.M)
TYPEDEF_RE = re.compile(r"^type (\w+) ([\w.\[\]*]+)\s*$", re.M)
FIELD_RE = re.compile(r"^\s*(?:(\w+)\s+)?([\w.\[\]*{}]+)\s*(`[^`]*`)?\s*(?://.*)?$")
TAG_RE = re.compile(r'(\w[\w-]*):"((?:[^"\\]|\\.)*)"')

structs = {}  # "pkg.Name" -> [(field_name or None, type, tags)]
typedefs = {}  # "pkg.Name" -> underlying type text
validators = set()  # "pkg.Name" with an IsValidValue method
unmarshalers = set()  # "pkg.Name" with an UnmarshalFlag method

for pkg, pkg_dir in PACKAGES.items():
    for src in package_sources(pkg_dir):
        for m in STRUCT_RE.finditer(src):
            fields = []
            for line in m.group(2).splitlines():
                line = line.strip()
                if not line or line.startswith("//"):
                    continue
                f = FIELD_RE.match(line)
                if not f:
                    continue
                name, typ, tag = f.groups()
                tags = dict(TAG_RE.findall(tag or ""))
                fields.append((name, typ, tags))
            structs[f"{pkg}.{m.group(1)}"] = fields
        for m in TYPEDEF_RE.finditer(src):
            typedefs[f"{pkg}.{m.group(1)}"] = m.group(2)
        for m in re.finditer(r"^func \(\w+ \*?(\w+)\) IsValidValue\(", src, re.M):
            validators.add(f"{pkg}.{m.group(1)}")
        for m in re.finditer(r"^func \(\w+ \*?(\w+)\) UnmarshalFlag\(", src, re.M):
            unmarshalers.add(f"{pkg}.{m.group(1)}")


def qualify(typ, pkg):
    base = typ.lstrip("[]*")
    return base if "." in base else f"{pkg}.{base}"


INT_KINDS = {"int", "int8", "int16", "int32", "int64", "float32", "float64"}
# Types from outside the parsed packages, by what go-flags sees.
EXTERNAL = {
    "types.NullInt": "struct",
    "types.NullBool": "struct",
    "constant.AppLifecycleType": "string",
    "constant.DeploymentStrategy": "string",
    "template.VarKV": "unmarshaler",
}


def kind(typ, pkg):
    """Switch, Number or Value, as go-flags parses a flag of this Go type."""
    base = typ.lstrip("[]*")
    if base == "bool" or base.startswith("func"):
        return "Switch"
    if base in INT_KINDS:
        return "Number"
    if base in ("string", "interface{}", "uint", "uint64"):
        return "Value"
    q = qualify(typ, pkg)
    if q in validators:
        return "Number"
    if q in unmarshalers or EXTERNAL.get(q) == "unmarshaler":
        return "Value"
    if q in typedefs:
        return kind(typedefs[q], q.split(".")[0])
    if q in structs or EXTERNAL.get(q) == "struct":
        return "Value"
    if q in EXTERNAL:
        return kind(EXTERNAL[q], pkg)
    sys.exit(f"unknown flag type {typ} ({q})")


def flags_of(qname):
    pkg = qname.split(".")[0]
    out = []
    for name, typ, tags in structs[qname]:
        if name is None:  # embedded: go-flags reads its options too
            q = qualify(typ, pkg)
            if q in structs:
                out += flags_of(q)
            continue
        if "long" in tags or "short" in tags:
            if "positional-args" in tags or tags.get("no-flag"):
                continue
            out.append((tags.get("long", ""), tags.get("short", ""), kind(typ, pkg), "hidden" in tags))
    return out


commands = []
for name, typ, tags in structs["common.commandList"]:
    if "command" not in tags:
        continue
    q = qualify(typ, "common")
    commands.append((tags["command"], tags.get("alias", ""), "hidden" in tags, q))

root = [
    (t.get("long", ""), t.get("short", ""), kind(ty, "common"), False)
    for n, ty, t in structs["common.commandList"]
    if "command" not in t and ("long" in t or "short" in t)
]


def flag_literal(long, short, k):
    name = f"--{long}" if long else f"-{short}"
    short_lit = f"Some(b'{short}')" if short else "None"
    return f'f("{name}", {short_lit}, {k})'


def command_literal(name, aliases, flags):
    """One `c(...)` entry, wrapped at 100 columns like rustfmt would."""
    alias_list = "&[" + ", ".join(f'"{a}"' for a in aliases) + "]"
    items = [flag_literal(*f[:3]) for f in sorted(flags, key=lambda f: f[0] or f[1])]
    head = f'    c("{name}", {alias_list}, &['
    one_line = head + ", ".join(items) + "]),"
    if len(one_line) <= 100:
        return one_line
    lines, line = [head], "       "
    for item in items:
        if len(line) + len(item) + 2 > 100:
            lines.append(line.rstrip())
            line = "       "
        line += " " + item + ","
    lines.append(line.rstrip())
    lines.append("    ]),")
    return "\n".join(lines)


# A hidden command that reuses a visible command's struct (v3-push runs
# PushCommand) is that command under another name: an alias.
visible = {q: name for name, _alias, hidden, q in commands if not hidden}
table = {}
for name, alias, hidden, q in commands:
    if hidden and q in visible:
        continue
    table[name] = ([alias] if alias else [], q)
for name, alias, hidden, q in commands:
    if hidden and q in visible:
        table[visible[q]][0].extend([name] + ([alias] if alias else []))

out = []
out.append(f"// Generated by tools/cf_grammar.py from cloudfoundry/cli {REF}; do not edit by hand.")
out.append(f'pub const CF_SOURCE_COMMIT: &str = "{COMMIT}";')
out.append("")
out.append("/// Options of cf itself, valid before and after any command (go-flags parent options).")
out.append("#[rustfmt::skip]")
out.append("pub const ROOT_FLAGS: &[Flag] = &[" + ", ".join(flag_literal(*f[:3]) for f in root) + "];")
out.append("")
out.append("/// Every command of cf v8 (`command_list_v7.go`): name, aliases, own options.")
out.append("#[rustfmt::skip]")
out.append("pub const CF_COMMANDS: &[Command] = &[")
for name in sorted(table):
    aliases, q = table[name]
    out.append(command_literal(name, aliases, flags_of(q)))
out.append("];")
block = "\n".join(out) + "\n"

BEGIN, END = "// BEGIN GENERATED cf grammar\n", "// END GENERATED cf grammar\n"
if len(sys.argv) > 3 and sys.argv[3] == "--update":
    path = sys.argv[4]
    text = open(path).read()
    a, b = text.index(BEGIN) + len(BEGIN), text.index(END)
    open(path, "w").write(text[:a] + block + text[b:])
else:
    sys.stdout.write(block)
