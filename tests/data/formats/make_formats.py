"""Rebuild the two small preference data sets in this folder (standard library only, seeded).

standard_pref.jsonl  64 rows {"prompt", "chosen", "rejected"}: TRL's standard (string) preference
                     format with an explicit prompt; an arithmetic question, the right answer
                     chosen and a wrong one rejected.
hh_pref.jsonl        64 rows {"chosen", "rejected"}: Anthropic HH transcripts
                     ("\\n\\nHuman: ...\\n\\nAssistant: ..."); 16 of them have two turns, and the
                     rejected transcript differs from the chosen one only in its last reply.

Usage: python3 tests/data/formats/make_formats.py [OUT_DIR]   (default: this file's folder)
The output depends on nothing but SEED, so a rebuild gives the same bytes.
"""

import json
import random
import sys
from pathlib import Path

SEED = 1234
N_ROWS = 64
N_TWO_TURN = 16  # a quarter of the HH rows

OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


def questions(rng):
    """Every distinct (a, op, b) with operands 1..12 and a result in 0..89, shuffled."""
    items = [
        (a, op, b)
        for op in OPS
        for a in range(1, 13)
        for b in range(1, 13)
        if 0 <= OPS[op](a, b) < 90
    ]
    rng.shuffle(items)
    return items


def ask(a, op, b):
    return f"What is {a} {op} {b}?"


def wrong(rng, right):
    """A wrong answer within 20 of the right one, never negative, whose first digit differs.

    With the first character different, chosen and rejected share exactly the text up to
    "Assistant: ", so a longest-common-prefix prompt extraction (as TRL's extract_prompt does)
    splits them at the reply, not inside a number.
    """
    candidates = [
        right + d
        for d in range(-20, 21)
        if d and right + d >= 0 and str(right + d)[0] != str(right)[0]
    ]
    return rng.choice(candidates)


def standard_rows(rng):
    rows = []
    for a, op, b in questions(rng)[:N_ROWS]:
        right = OPS[op](a, b)
        rows.append(
            {"prompt": ask(a, op, b), "chosen": str(right), "rejected": str(wrong(rng, right))}
        )
    return rows


def hh_rows(rng):
    pool = questions(rng)
    two_turn = set(rng.sample(range(N_ROWS), N_TWO_TURN))
    rows = []
    for i in range(N_ROWS):
        a, op, b = pool[i]
        right = OPS[op](a, b)
        if i in two_turn:
            # The follow-up question builds on the first answer; both transcripts share the
            # first exchange and the follow-up question, and differ in the final reply only.
            c = rng.randint(1, 9)  # final answer below 99
            final = right + c
            shared = (
                f"\n\nHuman: {ask(a, op, b)}\n\nAssistant: {right}\n\nHuman: And what is "
                f"{right} + {c}?"
            )
        else:
            final = right
            shared = f"\n\nHuman: {ask(a, op, b)}"
        rows.append(
            {
                "chosen": f"{shared}\n\nAssistant: {final}",
                "rejected": f"{shared}\n\nAssistant: {wrong(rng, final)}",
            }
        )
    return rows


def check(rows, keys):
    assert len(rows) == N_ROWS
    assert all(list(r) == keys for r in rows)
    assert all(r["chosen"] != r["rejected"] for r in rows)
    assert len({json.dumps(r) for r in rows}) == N_ROWS, "duplicate rows"


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    standard = standard_rows(rng)
    hh = hh_rows(rng)
    check(standard, ["prompt", "chosen", "rejected"])
    check(hh, ["chosen", "rejected"])
    assert sum(r["chosen"].count("\n\nHuman: ") == 2 for r in hh) == N_TWO_TURN
    write_jsonl(out / "standard_pref.jsonl", standard)
    write_jsonl(out / "hh_pref.jsonl", hh)
    print(f"wrote {len(standard)} + {len(hh)} rows to {out}")


if __name__ == "__main__":
    main()
