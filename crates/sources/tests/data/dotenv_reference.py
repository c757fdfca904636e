"""Writes dotenv_reference.json: .env texts and what python-dotenv reads from them.

The reference for crates/sources/src/dotenv.rs (tests/sources/dotenv_reference.rs). Run with an empty
environment so `${NAME}` falls back to the file and the defaults, as the test does:

    env -i "$(command -v python3)" crates/sources/tests/data/dotenv_reference.py

Needs python-dotenv (`pip install python-dotenv==1.2.2`).
"""
import io
import json
import logging
import os
import random

import dotenv

HAND = [
    "A=1\nWEBHOOK_SECRET=Pr1ce$ecret2024\n",
    "A=1\nB='${A}x'\nC=\"${A}\"\nD=${A}\nE=$A\nF=${NOPE:-def}\nK\nL=${K:-dd}\n",
    "A= #abc\nB=x #c\nC='a\\'b' # c\nD=\"a\\nb\\tc\\\\d\\$e\"\nexport E=1\nF=a#b\n",
    "  G = 2  \nH='x\\n'\nI=\"multi\nline\"\n",
    "A=\"C:\\\\\"\nB=\"x\"\n",
    "A=\"x\\\"",
    "A=\"open\nB=2\n",
    "FOO bar\nX=1\n",
    "=1\nY=2\n",
    "'quoted key'=v\n'=x\n",
    "export  SPACED=1\nexport=2\nexportX=3\n",
    "A=${}\nB=${A:x}\nC=${A:-}\nD=${A:-x:-y}\nE=${A\nF=${:-$}{X}\n",
    "A=a\tb #c\nB=\"a\" #c\nC='a'#c\nD='a' x\n",
    "\n\n  \t\n# c\n   # c2\nA=1 # c\n\n",
    "A=\"\\a\\b\\f\\r\\v\\x\\u0041\"\nB='\\a\\\\\\''\n",
    "A=\"${B:-\\}\"\nB=\"${:-\\}\"\n",
    "A=привет мир  \nКЛЮЧ=значение\n",
    "A=\"x\"\"y\"\nB=''\nC=\"\"\n",
    "A=1\nA=2\nB=${A}\n",
    "A\nB=${A:-d}\nC=${A}\n",
]

FRAGMENTS = [
    "A", "B", "KEY", "export ", "=", "=", "=", " ", "  ", "\t", "\n", "\n", "'", "'", '"', '"',
    "\\", "\\\\", "#", " #", "$", "${", "}", ":-", "${A}", "${B:-x}", "x", "y z", "п", "=\"", "='",
]


def sample(rng):
    return "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 14)))


class Count(logging.Handler):
    def __init__(self):
        super().__init__()
        self.n = 0

    def emit(self, record):
        self.n += 1


def main():
    assert not any(k in os.environ for k in ("A", "B", "KEY", "NOPE"))
    rng = random.Random(20261130)
    texts = HAND + [sample(rng) for _ in range(600)]
    counter = Count()
    logging.getLogger("dotenv.main").addHandler(counter)
    logging.getLogger("dotenv.main").propagate = False
    cases = []
    for t in texts:
        counter.n = 0
        values = dotenv.dotenv_values(stream=io.StringIO(t))
        cases.append({"text": t, "values": [[k, v] for k, v in values.items()], "bad_lines": counter.n})
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "dotenv_reference.json"), "w", encoding="utf-8") as f:
        json.dump({"python_dotenv": dotenv.__version__ if hasattr(dotenv, "__version__") else "1.2.2",
                   "cases": cases}, f, ensure_ascii=False, indent=0)


main()
