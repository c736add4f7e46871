#!/usr/bin/env python3
# Issue 9 figures: interleaved kvbench runs of reads in 1/2 reader processes vs in-process threads, and a writer alone vs with reader processes.
# Usage: live_readers_ab.py fill | reads ROUNDS | writer ROUNDS [READER_PROCESSES]   (needs a release kvbench in .build/release)
import json, subprocess, sys, statistics, shutil, os
KB=os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../.build/release/kvbench")
DB="/tmp/m9db"
def run(args):
    out = subprocess.run([KB]+args+["--format","json"], capture_output=True, text=True)
    if out.returncode != 0:
        print("FAIL", args, out.stderr[-500:]); return None
    return json.loads(out.stdout)
def ops(j, name):
    # find result for benchmark name
    def walk(x):
        if isinstance(x, dict):
            if x.get("benchmark") == name or x.get("name") == name:
                yield x
            for v in x.values(): yield from walk(v)
        elif isinstance(x, list):
            for v in x: yield from walk(v)
    for r in walk(j):
        for k in ("ops_per_sec","opsPerSec","throughput"):
            if k in r: return r
    return None
mode = sys.argv[1]
if mode == "fill":
    shutil.rmtree(DB, ignore_errors=True)
    j = run(["--benchmarks","fillseq","--num","1000000","--db",DB])
    print(json.dumps(j)[:3000])
def res(j):
    return j["results"][0] if j else None
if mode == "reads":
    rounds = int(sys.argv[2])
    data = {"inproc1":[], "proc1":[], "proc2":[], "inproc2":[]}
    opens = []
    for r in range(rounds):
        for key, extra in (("inproc1",["--threads","1"]),("proc1",["--processes","1"]),("proc2",["--processes","2"]),("inproc2",["--threads","2"])):
            j = run(["--benchmarks","readrandom","--num","1000000","--reads","1000000","--db",DB,"--use-existing-db"]+extra)
            x = res(j)
            if not x: continue
            data[key].append(x["ops_per_sec"])
            lb = x.get("latency_by_op_us") or {}
            for k,v in lb.items():
                if "open" in k: opens.append((v.get("p50"), v.get("max")))
            print(r, key, round(x["ops_per_sec"]), x.get("note"), flush=True)
    for k,v in data.items(): print(k, [round(a) for a in v], "median", round(statistics.median(v)) if v else None)
    m = {k: statistics.median(v) for k,v in data.items() if v}
    print("proc2/proc1", m["proc2"]/m["proc1"], "proc1/inproc1", m["proc1"]/m["inproc1"], "inproc2/inproc1", m["inproc2"]/m["inproc1"])
    print("opens p50/max us", opens)
if mode == "writer":
    rounds = int(sys.argv[2])
    data = {"alone":[], "with2":[]}
    for r in range(rounds):
        for key, extra in (("alone",[]),("with2",["--processes",sys.argv[3] if len(sys.argv)>3 else "2"])):
            j = run(["--benchmarks","fillrandom","--num","1000000"]+extra)
            x = res(j)
            if not x: continue
            data[key].append(x["ops_per_sec"])
            print(r, key, round(x["ops_per_sec"]), x.get("background_reads_per_sec"), flush=True)
    m = {k: statistics.median(v) for k,v in data.items() if v}
    print(data, "with2/alone", m["with2"]/m["alone"])
