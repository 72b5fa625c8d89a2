#!/usr/bin/env python3
"""The damaged-copy campaign (docs/testing.md, "Damaged files").

Builds a demo database (20,000 customers by default) plaintext and encrypted, keeps an early
copy of each taken before more writes, then makes damaged copies of data.mdb and runs every
copy through the read commands. Counts crashes (killed by a signal, exit >= 128, or a
sanitizer report on stderr), hangs (the timeout) and exit codes. Fixed seeds: the same
arguments make the same copies.

Damage kinds, in turn (copy i gets kind i % 6):
  byte1, byte4, byte32  1, 4 or 32 random bytes overwritten at random offsets
  zero_page             one random page (not a meta page) zeroed
  truncate              the file cut at a random page boundary
  torn                  the first N pages from the early copy, the rest from the final file
                        (what a copy taken while a writer ran can hold)

  fuzz/damage_campaign.py [--copies N] [--customers N] [--modes plain,encrypted] [--jobs J]
                          [--timeout S] [--seed S] [--custdb build/bin/custdb]

Exits 1 when any crash or hang was seen.
"""
import argparse
import collections
import concurrent.futures
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

PAGE = 4096
KINDS = ["byte1", "byte4", "byte32", "zero_page", "truncate", "torn"]
COMMANDS = [
    ("stats", ["stats"]),
    ("verify", ["verify"]),
    ("get", ["get", "42"]),
    ("find", ["find", "--email", "c42@mail.example"]),
    ("segment", ["segment", "tier in (gold, platinum) and region = east", "--count"]),
    ("report", ["report", "--by", "tier"]),
    ("export", ["export", "customers", "--format", "csv"]),
    ("rfm", ["rfm", "--as-of", "2026-09-30", "--format", "csv"]),
]
SANITIZER_MARKS = (b"AddressSanitizer", b"runtime error:", b"LeakSanitizer", b"UndefinedBehaviorSanitizer")


def run(cmd, env, timeout, stdin=None):
    return subprocess.run(cmd, env=env, timeout=timeout, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)


def build(custdb, root, mode, customers, env):
    """The final database and its early copy (taken after 90% of the customers)."""
    db = os.path.join(root, "base-" + mode)
    shutil.rmtree(db, ignore_errors=True)
    extra = ["--encrypt"] if mode == "encrypted" else []
    e = dict(env, CUSTDB_DB=db)
    first = customers * 9 // 10
    subprocess.run([custdb, "demo", "--customers", str(first), "--seed", "42"] + extra, env=e,
                   check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(db, "data.mdb"), "rb") as f:
        early = f.read()
    subprocess.run([custdb, "demo", "--customers", str(customers - first), "--seed", "43"],
                   env=e, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(db, "data.mdb"), "rb") as f:
        final = f.read()
    return final, early


def damage(kind, rng, final, early):
    f = bytearray(final)
    pages = len(f) // PAGE
    if kind.startswith("byte"):
        for _ in range(int(kind[4:])):
            f[rng.randrange(len(f))] = rng.randrange(256)
    elif kind == "zero_page":
        p = rng.randrange(2, pages)
        f[p * PAGE:(p + 1) * PAGE] = bytes(PAGE)
    elif kind == "truncate":
        del f[rng.randrange(1, pages) * PAGE:]
    elif kind == "torn":
        n = rng.randrange(2, len(early) // PAGE + 1)
        f[:n * PAGE] = early[:n * PAGE]
    return bytes(f)


def one_copy(args, mode, index, final, early, env):
    rng = random.Random(f"{args.seed}-{mode}-{index}")
    kind = KINDS[index % len(KINDS)]
    data = damage(kind, rng, final, early)
    d = tempfile.mkdtemp(prefix=f"{mode}-{index}-", dir=args.scratch)
    results = []
    try:
        with open(os.path.join(d, "data.mdb"), "wb") as f:
            f.write(data)
        e = dict(env, CUSTDB_DB=d)
        for name, argv in COMMANDS:
            t0 = time.monotonic()
            try:
                p = run([args.custdb] + (["--skip-page-check"] if args.skip_page_check else []) + argv,
                        e, args.timeout)
                code = p.returncode
                crashed = code < 0 or code >= 128 or any(m in p.stderr for m in SANITIZER_MARKS)
                outcome = "crash" if crashed else str(code)
                detail = p.stderr[-400:].decode(errors="replace") if crashed else ""
            except subprocess.TimeoutExpired:
                outcome, detail = "hang", ""
            results.append((mode, kind, index, name, outcome, detail, time.monotonic() - t0))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=500, help="damaged copies per mode")
    ap.add_argument("--customers", type=int, default=20000)
    ap.add_argument("--modes", default="plain,encrypted")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per command")
    ap.add_argument("--seed", default="12")
    ap.add_argument("--custdb", default=os.path.join(os.path.dirname(__file__), "..", "build", "bin", "custdb"))
    ap.add_argument("--log", default="", help="append one tab-separated line per command run here, as it runs")
    ap.add_argument("--skip-page-check", action="store_true",
                    help="run the commands with --skip-page-check (the baseline without the walk at open)")
    args = ap.parse_args()
    args.custdb = os.path.abspath(args.custdb)
    root = tempfile.mkdtemp(prefix="custdb-damage-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    args.scratch = root
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTDB_")}
    started = time.monotonic()
    results = []
    log = open(args.log, "a") if args.log else None
    try:
        for mode in args.modes.split(","):
            t0 = time.monotonic()
            # A secret is for encrypted databases only: the CLI refuses one on a plaintext one.
            env = dict(base_env)
            if mode == "encrypted":
                env["CUSTDB_PASSPHRASE"] = "damage campaign passphrase"
            final, early = build(args.custdb, root, mode, args.customers, env)
            print(f"== {mode}: data.mdb {len(final) // PAGE} pages ({len(final) / 1e6:.1f} MB), early copy "
                  f"{len(early) // PAGE} pages; built in {time.monotonic() - t0:.0f} s", flush=True)
            with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
                futs = [pool.submit(one_copy, args, mode, i, final, early, env) for i in range(args.copies)]
                for n, fut in enumerate(concurrent.futures.as_completed(futs), 1):
                    results.extend(fut.result())
                    if log:
                        for r in fut.result():
                            log.write("\t".join(str(x) for x in r[:5]) + f"\t{r[6]:.2f}\t{r[5]!r}\n")
                        log.flush()
                    if n % 100 == 0:
                        print(f"   {n}/{args.copies} copies", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    # Summary: per mode and kind, then per command.
    outcomes = sorted({r[4] for r in results}, key=lambda o: (not o.isdigit(), o))
    def table(key_name, key):
        rows = collections.OrderedDict()
        for r in results:
            rows.setdefault(key(r), collections.Counter())[r[4]] += 1
        print(f"\n{key_name:<22}" + "".join(f"{'exit ' + o if o.isdigit() else o:>9}" for o in outcomes))
        for k, c in rows.items():
            print(f"{k:<22}" + "".join(f"{c[o]:>9}" for o in outcomes))
    table("mode/kind", lambda r: f"{r[0]}/{r[1]}")
    table("command", lambda r: r[3])
    copies = len({(r[0], r[2]) for r in results})
    crashes = [r for r in results if r[4] == "crash"]
    hangs = [r for r in results if r[4] == "hang"]
    slowest = max(results, key=lambda r: r[6]) if results else None
    print(f"\ncopies {copies}, commands run {len(results)}, crashes {len(crashes)}, hangs {len(hangs)}; "
          f"{time.monotonic() - started:.0f} s" +
          (f"; slowest command {slowest[6]:.1f} s ({slowest[3]}, {slowest[0]}/{slowest[1]} copy {slowest[2]})" if slowest else ""))
    for r in (crashes + hangs)[:20]:
        print(f"  {r[4]}: {r[3]} on {r[0]}/{r[1]} copy {r[2]} (seed {args.seed}) {r[5]}")
    return 1 if crashes or hangs else 0


if __name__ == "__main__":
    sys.exit(main())
