#!/usr/bin/env python3
"""Mapping budget figures: interleaved kvbench runs of Store.Configuration.mappingBudget (the default, ~1 GiB)
against 0 (never map: every get reads with pread), and the few other comparisons around it.

Needs the RELEASE kvbench; this script does not build it:
    swift build -c release --product kvbench                                   # .build/release/kvbench
and, for row b (kvstore vs lmdb; lmdb is only in the peers' build, which also has kvstore):
    swift build -c release --package-path Benchmarks/Peers --product kvbench-peers

Usage: mapping_budget_ab.py [ROUNDS] [--rows a,c,g] [--out DIR] [--duration S] [--quick] [--keep] [--reuse]
                            [--kvbench PATH] [--kvbench-peers PATH]
  ROUNDS      interleaved rounds (default 3): each round runs a row's A and B back to back, alternating which
              goes first; a row's figure is the median of its per-round ratios A/B
  --rows      the rows to run (default: all, a-i)
  --out       where every kvbench JSON report goes (default /tmp/mapab/results-<UTC time>)
  --duration  seconds of each measured read benchmark (default 4)
  --quick     a smoke run: every size / 10 (also the budgets of rows g and h), ROUNDS 1, duration / 4
  --keep      keep the stores under /tmp/mapab/ afterwards (default: removed at the end)
  --reuse     use stores that an earlier --keep run left (same sizes), instead of filling them again

Rows (16-byte keys, 100-byte values, 1,000,000 keys, 1 thread, page cache warm unless stated; A vs B):
  a  readrandom: default budget vs 0
  b  readrandom: kvstore (default budget) vs lmdb, both in kvbench-peers
  c  readhot, readwhilewriting, ycsb-b, ycsb-c: default vs 0
  d  readrandom: --threads 2 vs --threads 1 (default budget)
  e  100,000 x 4 KiB values, readrandom: default vs 0
  f  10,000 x 256 KiB values, readrandom: default vs 0
  g  ycsb-c on ~512 MiB of data (8 x the budget): budget 64 MiB vs 0, --zipfian scrambled and ordered
  h  8192 x 256 KiB values (2 GiB), budget 256 MiB, readrandom pass after pass: VmSize growth, most bytes mapped
  i  fillrandom and overwrite (a new store per run): default vs 0

Each store is filled once (fillseq: the YCSB load order, so that --zipfian ordered finds its hot keys in the first
segments), and every read run opens it with --use-existing-db, so that both configurations read the same store.
Rows c's readwhilewriting and ycsb-b write (a store of their own, so that the read-only rows' store stays as filled);
their A and B runs alternate on it, so both see it grow alike.

Warm-up: the store maps its hottest segments in the background within about a second of reads starting. Each read
run is one kvbench process that runs a warm-up benchmark and then the measured one on the same open store (kvbench
keeps it open between benchmarks, and a mapping stays until a hotter segment or the close needs its room), each for
--duration seconds, and takes the second. So the measured figures are the steady state, not the first second's
ramp, for both configurations alike (with budget 0 the warm-up only warms). The warm-up reads the way the measured
benchmark reads and writes nothing: readrandom before readwhilewriting, ycsb-c before ycsb-b.
"""
import json, os, re, shutil, statistics, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "../.."))
KVBENCH = os.path.join(ROOT, ".build/release/kvbench")
PEERS = os.path.join(ROOT, "Benchmarks/Peers/.build/release/kvbench-peers")
BASE = "/tmp/mapab"
MIB = 1 << 20
# Bytes of segment file per record of a 16-byte key and a 100-byte value (header and key and value, 8-byte aligned;
# measured: a fillseq of 1,000,000 keys writes 152,000,096 bytes of segments). Row g sizes --num from it.
RECORD_BYTES = 152


def usage(message):
    print("mapping_budget_ab.py: " + message + "\n", file=sys.stderr)
    print(__doc__.split("Rows (")[0].strip(), file=sys.stderr)
    sys.exit(2)


def parse_args(argv):
    opts = {"rounds": None, "rows": "abcdefghi", "out": None, "duration": 4.0, "quick": False, "keep": False,
            "reuse": False, "kvbench": KVBENCH, "peers": PEERS}
    i = 0
    while i < len(argv):
        a = argv[i]
        def value():
            if i + 1 >= len(argv): usage(a + " needs a value")
            return argv[i + 1]
        if a in ("-h", "--help"):
            print(__doc__); sys.exit(0)
        elif a == "--rows": opts["rows"] = value().replace(",", "").replace(" ", ""); i += 1
        elif a == "--out": opts["out"] = value(); i += 1
        elif a == "--duration": opts["duration"] = float(value()); i += 1
        elif a == "--kvbench": opts["kvbench"] = value(); i += 1
        elif a == "--kvbench-peers": opts["peers"] = value(); i += 1
        elif a == "--quick": opts["quick"] = True
        elif a == "--keep": opts["keep"] = True
        elif a == "--reuse": opts["reuse"] = True
        elif a.isdigit() and opts["rounds"] is None: opts["rounds"] = int(a)
        else: usage("unknown argument " + a)
        i += 1
    bad = [r for r in opts["rows"] if r not in "abcdefghi"]
    if bad or not opts["rows"]: usage("--rows takes letters among a-i, e.g. --rows a,c,g")
    if opts["rounds"] is None: opts["rounds"] = 1 if opts["quick"] else 3
    if opts["rounds"] < 1: usage("ROUNDS must be at least 1")
    if opts["quick"]: opts["duration"] /= 4
    if opts["out"] is None: opts["out"] = os.path.join(BASE, "results-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    return opts


OPTS = parse_args(sys.argv[1:])
SCALE = 10 if OPTS["quick"] else 1
D = OPTS["duration"]
os.makedirs(OPTS["out"], exist_ok=True)
LOG = open(os.path.join(OPTS["out"], "runs.log"), "a")


def log(line):
    print(line, flush=True)
    LOG.write(line + "\n"); LOG.flush()


def run(binary, args, name, timeout=1800):
    """One kvbench process; its JSON report goes to OUT/name.json. Returns the report, or None on failure."""
    path = os.path.join(OPTS["out"], name + ".json")
    command = [binary] + args + ["--format", "json", "--output", path]
    LOG.write("$ " + " ".join(command) + "\n"); LOG.flush()
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        log("  FAIL (timeout) " + name); return None
    if out.returncode != 0:
        log("  FAIL %s (exit %d): %s" % (name, out.returncode, out.stderr.strip()[-800:])); return None
    report = json.loads(out.stdout)
    if report["config"].get("build") != "release":
        sys.exit("mapping_budget_ab.py: %s is a debug build; build it with swift build -c release" % binary)
    return report


def last(report, name):
    """The last result called `name` (the measured one, after a warm-up of the same name)."""
    found = [r for r in report["results"] if r["name"] == name] if report else []
    return found[-1] if found else None


# ---------------------------------------------------------------------------------------------------------- stores

class Store:
    """A store filled once with fillseq, in BASE/<name> (kvbench's <db>/<engine>)."""
    def __init__(self, name, num, value_size, engines=("kvstore",), binary="kvbench"):
        self.name, self.num, self.value_size, self.engines, self.binary = name, num, value_size, engines, binary
        self.db = os.path.join(BASE, name)
        self.filled = False

    def sizes(self):
        return ["--num", str(self.num), "--value-size", str(self.value_size)]

    def spec(self):
        return {"num": self.num, "value_size": self.value_size, "engines": list(self.engines)}

    def segment_bytes(self):
        directory = os.path.join(self.db, "kvstore")
        if not os.path.isdir(directory): return 0
        return sum(os.path.getsize(os.path.join(directory, f)) for f in os.listdir(directory) if f.endswith(".seg"))

    def ensure(self):
        if self.filled: return True
        marker = os.path.join(self.db, "mapab-store.json")
        if OPTS["reuse"] and os.path.exists(marker):
            with open(marker) as f:
                if json.load(f) == self.spec():
                    log("  store %s: reusing %s" % (self.name, self.db)); self.filled = True; return True
        shutil.rmtree(self.db, ignore_errors=True)
        os.makedirs(self.db)
        engines = sum((["--engine", e] for e in self.engines), [])
        started = time.time()
        report = run(binary(self.binary), ["--benchmarks", "fillseq", "--db", self.db] + self.sizes() + engines,
                     "fill-" + self.name)
        if report is None or len([r for r in report["results"] if r["name"] == "fillseq"]) != len(self.engines):
            log("  store %s: fill failed" % self.name); return False
        with open(marker, "w") as f: json.dump(self.spec(), f)
        segments = self.segment_bytes()
        log("  store %s: %d x %d B values filled in %.0f s%s" % (
            self.name, self.num, self.value_size, time.time() - started,
            ", kvstore segments %.1f MiB (%.1f B/record)" % (segments / MIB, segments / self.num) if segments else ""))
        self.filled = True
        return True


def binary(which):
    return OPTS["kvbench"] if which == "kvbench" else OPTS["peers"]


N = 1_000_000 // SCALE
G_BUDGET = 64 * MIB // SCALE
H_BUDGET = 256 * MIB // SCALE
STORES = {
    "1m": Store("1m", N, 100),
    "1m-rw": Store("1m-rw", N, 100),
    "1m-peers": Store("1m-peers", N, 100, engines=("kvstore", "lmdb"), binary="peers"),
    "4k": Store("4k", 100_000 // SCALE, 4096),
    "256k": Store("256k", 10_000 // SCALE, 256 << 10),
    # ~512 MiB of segments: 8 x row g's budget.
    "g": Store("g", 512 * MIB // SCALE // RECORD_BYTES, 100),
    "h": Store("h", 8192 // SCALE, 256 << 10),
}

# ----------------------------------------------------------------------------------------------------- comparisons

class Side:
    """One configuration: which binary, which store, its extra flags."""
    def __init__(self, label, extra, engine="kvstore", which="kvbench"):
        self.label, self.extra, self.engine, self.which = label, extra, engine, which


class Comparison:
    """A vs B on one store, one kvbench process per run. A read comparison measures `benches[0]` after `warm`, each
    --duration seconds, on the filled store; a write comparison (warm None) runs `benches` on a new store each run
    and measures every one of them."""
    def __init__(self, row, title, store, benches, warm, a, b, show_vmsize=False):
        self.row, self.title, self.store, self.benches, self.warm = row, title, store, benches, warm
        self.a, self.b, self.show_vmsize = a, b, show_vmsize
        self.results = {bench: {"A": [], "B": []} for bench in benches}   # per round: the result, or None

    def args(self, side):
        store = STORES[self.store]
        names = self.benches if self.warm is None else [self.warm] + self.benches
        args = ["--benchmarks", ",".join(names), "--db", store.db, "--engine", side.engine] + store.sizes()
        if self.warm is not None: args += ["--use-existing-db", "--duration", str(D)]
        return args + side.extra

    def run_round(self, r):
        if self.warm is not None and not STORES[self.store].ensure():
            for bench in self.benches:
                self.results[bench]["A"].append(None); self.results[bench]["B"].append(None)
            return
        for key in (("A", "B") if r % 2 == 0 else ("B", "A")):
            side = self.a if key == "A" else self.b
            if self.warm is None:
                shutil.rmtree(STORES[self.store].db, ignore_errors=True)
                os.makedirs(STORES[self.store].db)
            name = self.row + "/" + safe("%s-%s-%s-r%d" % (self.title, key, side.label, r + 1))
            report = run(binary(side.which), self.args(side), name)
            for bench in self.benches: self.results[bench][key].append(last(report, bench))
        for bench in self.benches:
            a, b = self.results[bench]["A"][-1], self.results[bench]["B"][-1]
            log("  r%d %-30s A %-9s %s   B %-9s %s   A/B %s" % (
                r + 1, self.label(bench), self.a.label, rate(a), self.b.label, rate(b), ratio(a, b)))
        if self.warm is None: shutil.rmtree(STORES[self.store].db, ignore_errors=True)

    def label(self, bench):
        return self.title if len(self.benches) == 1 else bench

    def summary(self):
        blocks = []
        for bench in self.benches:
            results = self.results[bench]
            ratios = [a["ops_per_sec"] / b["ops_per_sec"] for a, b in zip(results["A"], results["B"])
                      if a and b and b["ops_per_sec"] > 0]
            lines = ["%s %-30s A = %s, B = %s: median A/B %s   (per round: %s)" % (
                self.row, self.label(bench), self.a.label, self.b.label,
                "%.3f" % statistics.median(ratios) if ratios else "-", " ".join("%.3f" % x for x in ratios) or "-")]
            for key, side in (("A", self.a), ("B", self.b)):
                lines.append("    %s %-9s ops/s %s" % (key, side.label, " ".join(rate(x) for x in results[key])))
                for x in results[key]: lines.append("        " + figures(x, self.show_vmsize))
            blocks.append("\n".join(lines))
        return "\n".join(blocks)


def safe(name):
    """`name` as one file name: runs of anything but letters, digits, '.', '_' and '-' become '_'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def rate(result):
    return "%9.0f" % result["ops_per_sec"] if result else "     FAIL"


def ratio(a, b):
    return "%.3f" % (a["ops_per_sec"] / b["ops_per_sec"]) if a and b and b["ops_per_sec"] > 0 else "-"


def figures(result, vmsize=False):
    """A result's mapping and page-fault figures (the mapping fields are null for engines without a budget)."""
    if not result: return "FAIL"
    parts = []
    if result.get("mapped_bytes") is not None:
        parts.append("mapped %.1f MiB/%d seg, %d maps, %d unmaps" % (
            result["mapped_bytes"] / MIB, result["mapped_segments"], result["segment_maps"], result["segment_unmaps"]))
    parts.append("faults %d minor %d major" % (result["minor_faults"], result["major_faults"]))
    if vmsize: parts.append("VmSize %.0f MiB" % (result["vmsize_kb"] / 1024))
    parts.append("RSS %.0f MiB" % (result["peak_rss_kb"] / 1024))
    return ", ".join(parts)


DEFAULT = Side("default", ["--mapping-budget", "default"])
ZERO = Side("budget 0", ["--mapping-budget", "0"])


def rows():
    def read(row, title, store, bench, warm, a=DEFAULT, b=ZERO, **kw):
        return Comparison(row, title, store, [bench], warm, a, b, **kw)
    return {
        "a": [read("a", "readrandom", "1m", "readrandom", "readrandom")],
        "b": [read("b", "readrandom kvstore/lmdb", "1m-peers", "readrandom", "readrandom",
                   Side("kvstore", ["--mapping-budget", "default"], "kvstore", "peers"),
                   Side("lmdb", [], "lmdb", "peers"))],
        "c": [read("c", "readhot", "1m", "readhot", "readhot"),
              read("c", "readwhilewriting", "1m-rw", "readwhilewriting", "readrandom"),
              read("c", "ycsb-b", "1m-rw", "ycsb-b", "ycsb-c"),
              read("c", "ycsb-c", "1m", "ycsb-c", "ycsb-c")],
        "d": [read("d", "readrandom threads 2/1", "1m", "readrandom", "readrandom",
                   Side("threads 2", ["--threads", "2"]), Side("threads 1", ["--threads", "1"]))],
        "e": [read("e", "readrandom 4 KiB", "4k", "readrandom", "readrandom")],
        "f": [read("f", "readrandom 256 KiB", "256k", "readrandom", "readrandom")],
        "g": [read("g", "ycsb-c 8x budget " + z, "g", "ycsb-c", "ycsb-c",
                   Side("%d MiB" % (G_BUDGET // MIB) if G_BUDGET % MIB == 0 else "%d B" % G_BUDGET,
                        ["--mapping-budget", str(G_BUDGET), "--zipfian", z]),
                   Side("budget 0", ["--mapping-budget", "0", "--zipfian", z]), show_vmsize=True)
              for z in ("scrambled", "ordered")],
        "i": [Comparison("i", "fillrandom,overwrite", "i", ["fillrandom", "overwrite"], None, DEFAULT, ZERO)],
    }


STORES["i"] = Store("i", N, 100)   # a new one for every run of row i

# ----------------------------------------------------------------------------------------------------------- row h

def row_h(rounds):
    """One configuration (budget 256 MiB) read pass after pass, in one process per round: `open` first, so that its
    VmSize is the store open with nothing read yet, then the passes. VmSize is /proc/self/status's, read at the end of
    each benchmark (kvbench's vmsize_kb). The growth over the passes (last pass - first pass) is what repeated reads
    add; the growth since the open adds the first pass's own: the mapped budget, the writer's mapping of its active
    segment (outside the budget) and the reader thread's stack."""
    store = STORES["h"]
    passes = 4
    lines = []
    if not store.ensure(): return ["h FAIL: no store"]
    over_passes, since_open = [], []
    for r in range(rounds):
        args = (["--benchmarks", "open," + ",".join(["readrandom"] * passes), "--db", store.db, "--use-existing-db",
                 "--duration", str(D), "--mapping-budget", str(H_BUDGET)] + store.sizes())
        report = run(OPTS["kvbench"], args, "h/readrandom-passes-r%d" % (r + 1))
        reads = [x for x in report["results"] if x["name"] == "readrandom"] if report else []
        opened = last(report, "open")
        if not opened or len(reads) != passes:
            lines.append("  r%d FAIL" % (r + 1)); log(lines[-1]); continue
        kb = [opened["vmsize_kb"]] + [x["vmsize_kb"] for x in reads]
        over_passes.append((kb[-1] - kb[1]) / 1024)
        since_open.append((kb[-1] - kb[0]) / 1024)
        line = ("  r%d VmSize after open %.0f MiB, after pass 1 %.0f MiB, after pass %d %.0f MiB: growth over the "
                "passes %+.0f MiB, since the open %+.0f MiB; max mapped %.1f MiB (budget %.1f MiB), maps %d, unmaps %d\n"
                "      per pass: %s" % (
                    r + 1, kb[0] / 1024, kb[1] / 1024, passes, kb[-1] / 1024, over_passes[-1], since_open[-1],
                    max(x["mapped_bytes"] for x in reads) / MIB, H_BUDGET / MIB,
                    sum(x["segment_maps"] for x in reads), sum(x["segment_unmaps"] for x in reads),
                    " | ".join("%s ops/s, VmSize %.0f MiB, mapped %.1f MiB/%d seg, %d maps %d unmaps" % (
                        rate(x).strip(), x["vmsize_kb"] / 1024, x["mapped_bytes"] / MIB, x["mapped_segments"],
                        x["segment_maps"], x["segment_unmaps"]) for x in reads)))
        log(line)
        lines.append(line)
    def med(values): return "%+.0f MiB" % statistics.median(values) if values else "-"
    head = ("h %d x 256 KiB values, budget %.1f MiB, %d readrandom passes of %.2f s: median VmSize growth over the "
            "passes %s, since the open %s" % (store.num, H_BUDGET / MIB, passes, D, med(over_passes), med(since_open)))
    return [head] + lines


# ------------------------------------------------------------------------------------------------------------ main

def main():
    if not os.access(OPTS["kvbench"], os.X_OK):
        sys.exit("mapping_budget_ab.py: no kvbench at %s; build it first (from %s):\n"
                 "    swift build -c release --product kvbench" % (OPTS["kvbench"], ROOT))
    selected = OPTS["rows"]
    if "b" in selected and not os.access(OPTS["peers"], os.X_OK):
        log("row b skipped: no kvbench-peers at %s (lmdb is only in the peers' build); build it with\n"
            "    swift build -c release --package-path Benchmarks/Peers --product kvbench-peers" % OPTS["peers"])
        selected = selected.replace("b", "")
    os.makedirs(BASE, exist_ok=True)
    log("mapping_budget_ab.py: rows %s, %d rounds, %.2f s per measured benchmark (after a warm-up as long)%s; "
        "reports in %s" % (",".join(selected), OPTS["rounds"], D, ", QUICK (sizes / 10)" if OPTS["quick"] else "",
                           OPTS["out"]))
    table = rows()
    summaries = []
    started = time.time()
    for row in "abcdefghi":
        if row not in selected: continue
        os.makedirs(os.path.join(OPTS["out"], row), exist_ok=True)
        row_started = time.time()
        log("== row %s" % row)
        if row == "h":
            summaries.append("\n".join(row_h(OPTS["rounds"])))
        else:
            for r in range(OPTS["rounds"]):
                for c in table[row]: c.run_round(r)
            summaries += [c.summary() for c in table[row]]
        log("   row %s took %.0f s" % (row, time.time() - row_started))
    log("\n==== summary (A/B > 1: A faster; %d rounds, each A and B back to back, alternating first)" % OPTS["rounds"])
    for s in summaries: log(s)
    log("total %.0f s; reports in %s" % (time.time() - started, OPTS["out"]))
    if not OPTS["keep"]:
        for store in STORES.values(): shutil.rmtree(store.db, ignore_errors=True)
    else:
        log("stores kept under %s (--reuse uses them again)" % BASE)


main()
