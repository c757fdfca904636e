#!/usr/bin/env python3
"""Checks that what ARCHITECTURE.md and README.md (or the files given) name in backticks exists.

Paths (with a `/` or a file ending) must be a tracked file or folder, from the repository root
or as the end of one (`planner/mod.rs`); `Type::method` needs `fn method` in the crates, a
CamelCase name a `struct`/`enum`/`trait`/`type`/variant of that name, a snake_case name with
`(`-less call form a `fn`/`const`/`static`/module. Other backticked text (commands, values,
SQL, words of the journal) is not checked. Also refuses links outside the repository (`../`).
Exit 1 when anything is missing. Links `[..](path)` are resolved from the document's folder.
Usage: scripts/doc-refs.py [FILE...]
"""
import os
import re
import subprocess
import sys

files = subprocess.run(["git", "ls-files"], capture_output=True, text=True, check=True).stdout.split()
dirs = {f.rsplit("/", i)[0] for f in files for i in range(1, f.count("/") + 1)}
rust = [f for f in files if f.endswith(".rs")]
source = "\n".join(open(f, encoding="utf-8", errors="replace").read() for f in rust)

# What a user's project holds at run time, URL paths and Telegram links: not repository files.
RUNTIME = ("/", "t.me", "joinchat", "data/", "backups/", "sessions/", "config/", "sendmessagebot.toml", "run.py", ".env")
# The standard library's traits and variants.
STD = {"BrokenPipe", "Display", "FromStr", "Default", "Debug", "Clone", "Ok", "Err", "Some", "None"}
ENDINGS = (".rs", ".md", ".sh", ".toml", ".sql", ".py", ".html", ".jsonl", ".yml")


def path_exists(p: str) -> bool:
    p = p.rstrip("/")
    if p in files or p in dirs:
        return True
    return any(f.endswith("/" + p) for f in files) or any(d.endswith("/" + p) for d in dirs)


def item_exists(name: str) -> bool:
    last = name.split("::")[-1]
    if re.search(rf"\b(fn|const|static|mod|macro_rules!)\s+{re.escape(last)}\b", source):
        return True
    if re.search(rf"\b(struct|enum|trait|type|mod)\s+{re.escape(last)}\b", source):
        return True
    # enum variants and fields
    return re.search(rf"^\s*{re.escape(last)}\b\s*[\(\{{,:]", source, re.M) is not None


def check(doc: str) -> list[str]:
    text = open(doc, encoding="utf-8").read()
    missing = []
    here = os.path.dirname(doc)
    for m in re.finditer(r"(?<![\w.])\.\./[\w./-]+", text):
        if os.path.normpath(os.path.join(here, m.group(0))).startswith(".."):
            missing.append(f"{doc}: `{m.group(0)}` is outside the repository")
    for m in re.finditer(r"\]\(([^)#\s]+)", text):
        link = m.group(1)
        if re.match(r"\w+:", link):
            continue
        if not path_exists(os.path.normpath(os.path.join(here, link))):
            missing.append(f"{doc}: link ({link})")
    for m in re.finditer(r"`([^`\n]+)`", text):
        tok = m.group(1).strip()
        word = tok.split("(")[0]
        if " " in tok or tok.startswith(("-", "$", "@", "http") + RUNTIME) or word in STD:
            continue
        if "/" in word or word.endswith(ENDINGS):
            if re.fullmatch(r"[\w./*-]+", word) and "*" not in word and not path_exists(word):
                missing.append(f"{doc}: path `{word}`")
        elif re.fullmatch(r"[A-Za-z_][\w]*(::[A-Za-z_]\w*)+", word) or (
            re.fullmatch(r"[A-Z][a-z]\w*", word) and any(c.islower() for c in word)
        ):
            if not item_exists(word):
                missing.append(f"{doc}: item `{word}`")
        elif tok.endswith(")") and re.fullmatch(r"[a-z_]\w*", word) and not item_exists(word):
            missing.append(f"{doc}: function `{word}`")
    return missing


missing = [m for doc in (sys.argv[1:] or ["ARCHITECTURE.md", "README.md"]) for m in check(doc)]
print("\n".join(missing) if missing else "every named path and item exists")
sys.exit(1 if missing else 0)
