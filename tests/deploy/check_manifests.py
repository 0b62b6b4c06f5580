#!/usr/bin/env python3
"""Checks deploy/kubernetes/ without a cluster: every document parses, and the fields the README's
walkthrough relies on agree with each other and with the binaries' own --help.

  check_manifests.py DEPLOY_DIR RINGWIRE_SERVER RINGWIRE_LOAD
"""

import fnmatch
import glob
import os
import re
import shlex
import subprocess
import sys

import yaml

failures = []


def check(ok, line):
    print(f"[{'ok' if ok else 'FAIL'}] {line}")
    if not ok:
        failures.append(line)


def flags_of(binary, *sub):
    text = subprocess.run([binary, *sub, "--help"], capture_output=True, text=True).stdout
    return set(re.findall(r"--[a-z][a-z0-9-]*", text))


def flag_value(args, flag):
    return args[args.index(flag) + 1] if flag in args else None


def main():
    deploy, server_bin, load_bin = sys.argv[1:4]
    docs = []
    for path in sorted(glob.glob(os.path.join(deploy, "kubernetes", "*.yaml"))):
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc is not None:
                    docs.append(doc)
    check(len(docs) >= 6, f"{len(docs)} documents parse")
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
        if doc["kind"] != "Namespace":
            check(doc["metadata"].get("namespace") == "ringwire",
                  f"{doc['kind']}/{doc['metadata']['name']} is in namespace ringwire")

    deployment = by_kind["Deployment"]["ringwire-server"]
    pod = deployment["spec"]["template"]
    server = pod["spec"]["containers"][0]
    args = [str(a) for a in server["args"]]
    known = flags_of(server_bin)
    unknown = [a for a in args if a.startswith("--") and a not in known]
    check(not unknown, f"every server flag is one ringwire-server --help lists ({unknown or 'ok'})")
    labels = pod["metadata"]["labels"]
    check(deployment["spec"]["selector"]["matchLabels"].items() <= labels.items(),
          "the Deployment's selector matches its pods")
    ports = {p["name"]: p["containerPort"] for p in server["ports"]}
    check(ports.get("frames") == int(flag_value(args, "--port")), "port 'frames' is --port")
    check(ports.get("metrics") == int(flag_value(args, "--metrics-port")),
          "port 'metrics' is --metrics-port")
    check(flag_value(args, "--bind") == "0.0.0.0", "the server listens on the pod's address")
    probe = server["readinessProbe"]["httpGet"]
    check(probe == {"path": "/healthz", "port": "metrics"}, "readiness is /healthz on metrics")
    notes = pod["metadata"]["annotations"]
    check(notes.get("prometheus.io/scrape") == "true" and
          int(notes.get("prometheus.io/port", 0)) == ports["metrics"] and
          notes.get("prometheus.io/path") == "/metrics", "scrape annotations name /metrics")
    pre_stop = server["lifecycle"]["preStop"]["exec"]["command"]
    waited = int(pre_stop[1]) if pre_stop[0] == "sleep" else 0
    drain = int(flag_value(args, "--drain-timeout"))
    grace = pod["spec"]["terminationGracePeriodSeconds"]
    check(grace > waited + drain,
          f"terminationGracePeriodSeconds {grace} > preStop {waited} s + drain timeout {drain} s")

    service = by_kind["Service"]["ringwire"]
    check(service["spec"]["selector"].items() <= labels.items(), "the Service selects the pods")
    for p in service["spec"]["ports"]:
        check(p["targetPort"] in ports, f"Service port {p['name']} targets a container port")

    load_job = by_kind["Job"]["ringwire-load"]
    merge_job = by_kind["Job"]["ringwire-load-merge"]
    check(load_job["spec"]["completionMode"] == "Indexed", "the load Job is Indexed")
    check(load_job["spec"]["completions"] == load_job["spec"]["parallelism"],
          "every generator runs at once (parallelism = completions)")
    load_words = shlex.split(load_job["spec"]["template"]["spec"]["containers"][0]["args"][0])
    check(load_words[:2] == ["exec", "ringwire-load"], "the load pods run ringwire-load")
    known_load = flags_of(load_bin)
    unknown = [w for w in load_words if w.startswith("--") and w not in known_load]
    check(not unknown, f"every load flag is one ringwire-load --help lists ({unknown or 'ok'})")
    target = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc"
    check(flag_value(load_words, "--host") == target, f"the generators aim at {target}")
    check(int(flag_value(load_words, "--port")) == service["spec"]["ports"][0]["port"],
          "the generators use the Service's port")
    merge_words = shlex.split(merge_job["spec"]["template"]["spec"]["containers"][0]["args"][0])
    check(merge_words[1:3] == ["ringwire-load", "merge"], "the merge Job runs ringwire-load merge")
    written = flag_value(load_words, "--json").replace("$JOB_COMPLETION_INDEX", "3")
    check(any(fnmatch.fnmatch(written, w) for w in merge_words if "*" in w),
          f"the merge reads what every generator writes ({written})")
    claims = {j["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
              for j in (load_job, merge_job)}
    pvcs = by_kind.get("PersistentVolumeClaim", {})
    check(len(claims) == 1 and claims <= pvcs.keys(), "both Jobs mount the one results claim")
    check("ReadWriteMany" in pvcs[next(iter(claims))]["spec"]["accessModes"],
          "the results claim is ReadWriteMany (generators write at once)")
    images = {c["image"] for d in docs if d["kind"] in ("Deployment", "Job")
              for c in d["spec"]["template"]["spec"]["containers"]}
    check(len(images) == 1, f"one image everywhere ({', '.join(sorted(images))})")
    check(os.path.exists(os.path.join(deploy, "docker", "Dockerfile")), "its Dockerfile exists")
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
