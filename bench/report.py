#!/usr/bin/env python3
"""bench/report.py RAW OUT_DIR: turns the JSON lines bench/run recorded into latest.md (the
table, Segl beside each peer with ratios and PASS/FAIL per target), latest.json (the summary and
every raw record) and latest.svg (a chart of the ratios). Standard library only.

Every figure comes from RAW, i.e. was measured in the run; the one exception is the Keycloak
reference, which is Keycloak's published sizing and is labelled as such wherever it appears.
"""

import json
import math
import statistics
import sys
from pathlib import Path

# Keycloak's published sizing (keycloak.org, "Concepts for sizing CPU and memory resources"):
# one vCPU per 15 password-based logins/s and per 120 client_credentials grants/s.
KEYCLOAK_LOGINS_PER_VCPU = 15
KEYCLOAK_GRANTS_PER_VCPU = 120

TARGETS = {
    "token_es256_ratio": 5.0,
    "token_rs256_ratio": 1.5,
    "token_p99_us": 2000,
    "wellknown_rps": 60_000,
    "idle_rss_kib": 15 * 1024,
    "startup_ms": 30.0,
    "login_fraction": 0.90,
}


def read_records(raw_path):
    records = []
    for line in Path(raw_path).read_text().splitlines():
        line = line.strip()
        if line:
            records.append(json.loads(line))
    return records


def spread(values):
    """Median with min and max, or None."""
    values = [value for value in values if value is not None]
    if not values:
        return None
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def summarise(records):
    run = next((r for r in records if r["kind"] == "run"), {})
    summary = {"run": run, "servers": {}, "quiet": [], "registry": {}, "peers": []}
    servers = summary["servers"]

    def slot(server, backend):
        return servers.setdefault(f"{server}/{backend}", {"server": server, "backend": backend, "loads": {}})

    for record in records:
        kind = record["kind"]
        if kind == "quiet":
            summary["quiet"].append(record)
        elif kind == "peer":
            summary["peers"].append(record)
        elif kind == "wrk":
            entry = slot(record["server"], record["backend"])["loads"].setdefault(
                record["load"], {"runs": [], "warmups": []}
            )
            (entry["warmups"] if record["warmup"] else entry["runs"]).append(record)
        elif kind == "login":
            slot(record["server"], record["backend"]).setdefault("login_runs", []).append(record)
        elif kind == "argon2":
            slot(record["server"], record["backend"]).setdefault("argon2_runs", []).append(record)
        elif kind == "startup":
            target = slot(record["server"], record["backend"])
            key = "first_start" if record.get("first") else "starts"
            if key == "first_start":
                target.setdefault("first_starts", []).append(record)
            else:
                target.setdefault("starts", []).append(record)
        elif kind == "rss":
            target = slot(record["server"], record["backend"])
            name = record["when"] + (f"_{record['alg']}" if record.get("alg") else "")
            target.setdefault("rss", {})[name] = record["kib"]
        elif kind == "rss_breakdown":
            slot(record["server"], record["backend"])["rss_breakdown"] = record
        elif kind == "server_log":
            target = slot(record["server"], record["backend"])
            target.setdefault("server_logs", []).append(record)
        elif kind == "registry":
            summary["registry"][record["backend"]] = record

    for entry in servers.values():
        for name, load in entry["loads"].items():
            runs = load["runs"]
            every = runs + load["warmups"]
            load["rps"] = spread([r["requests_per_second"] for r in runs])
            load["p50_us"] = spread([r["wrk"]["latency_p50_us"] for r in runs])
            load["p99_us"] = spread([r["wrk"]["latency_p99_us"] for r in runs])
            load["bytes_per_response"] = spread(
                [r["wrk"]["bytes"] / max(r["wrk"]["requests"], 1) for r in runs]
            )
            load["non_2xx_3xx"] = sum(r["wrk"]["non_2xx_3xx"] for r in every)
            load["socket_errors"] = sum(
                r["wrk"][k] for r in every for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
            )
            load["server_cpu_us_per_request"] = spread(
                [
                    1e6 * r["machine"]["server_cpu_seconds"] / max(r["wrk"]["requests"], 1)
                    for r in runs
                ]
            )
            load["load_before"] = [r["machine"]["load_before"] for r in runs]
            load["load_after"] = [r["machine"]["load_after"] for r in runs]
            load["other_cpu_percent"] = spread([r["machine"]["other_cpu_percent"] for r in runs])
            load["machine_busy_percent"] = spread([r["machine"]["machine_busy_percent"] for r in runs])
            load["database_cpu_us_per_request"] = spread(
                [
                    1e6 * r["machine"].get("database_cpu_seconds", 0) / max(r["wrk"]["requests"], 1)
                    for r in runs
                ]
            )
            load["steal_percent"] = spread([r["machine"].get("steal_percent") for r in runs])
        logins = entry.get("login_runs")
        argon2_runs = entry.get("argon2_runs", [])
        if logins:
            # The hash time is taken before and after the login runs; the bound uses their mean.
            hash_seconds = (
                statistics.mean(r["hash_cpu_seconds_median"] for r in argon2_runs) if argon2_runs else None
            )
            argon2 = {
                "hash_seconds_median": hash_seconds,
                "hash_wall_seconds_median": statistics.mean(r["hash_wall_seconds_median"] for r in argon2_runs)
                if argon2_runs
                else None,
                "bound_flows_per_second": (argon2_runs[0]["cores"] / hash_seconds) if hash_seconds else None,
                "all_cores_hashes_per_second": statistics.mean(r["all_cores_hashes_per_second"] for r in argon2_runs)
                if argon2_runs and all("all_cores_hashes_per_second" in r for r in argon2_runs)
                else None,
                "phases": {
                    r.get("phase", "?"): {
                        "hash_cpu_ms": 1e3 * r["hash_cpu_seconds_median"],
                        "hash_wall_ms": 1e3 * r["hash_wall_seconds_median"],
                        "load": r.get("load"),
                    }
                    for r in argon2_runs
                },
            }
            entry["argon2"] = argon2
            login = {
                "flows_per_second": spread([r["flows_per_second"] for r in logins]),
                "flow_p99_ms": spread([r["flow_p99_ms"] for r in logins]),
                "server_cpu_ms_per_flow": spread(
                    [1e3 * r["server_cpu_seconds_per_flow"] for r in logins if r.get("server_cpu_seconds_per_flow")]
                ),
                "database_cpu_ms_per_flow": spread(
                    [1e3 * r["machine"].get("database_cpu_seconds", 0) / max(r["flows"], 1) for r in logins]
                ),
                "steal_percent": spread([r["machine"].get("steal_percent") for r in logins]),
                "failed_flows": sum(r["failed_flows"] for r in logins),
                "server_errors": sum(r["server_errors"] for r in logins),
                "transport_errors": sum(r["transport_errors"] for r in logins),
                "failures": [r["failures"] for r in logins if r["failures"]],
                "first_failure": next((r["first_failure"] for r in logins if r.get("first_failure")), None),
                "load_before": [r["machine"]["load_before"] for r in logins],
                "load_after": [r["machine"]["load_after"] for r in logins],
                "other_cpu_percent": spread([r["machine"]["other_cpu_percent"] for r in logins]),
                "workers": logins[0]["workers"],
            }
            if hash_seconds:
                login["hash_ms"] = 1e3 * hash_seconds
                login["hash_wall_ms"] = 1e3 * argon2["hash_wall_seconds_median"]
                login["hash_phases"] = argon2["phases"]
                login["bound"] = argon2["bound_flows_per_second"]
                login["fraction_of_bound"] = spread(
                    [r["flows_per_second"] / argon2["bound_flows_per_second"] for r in logins]
                )
                if argon2.get("all_cores_hashes_per_second"):
                    login["all_cores_hashes"] = argon2["all_cores_hashes_per_second"]
                    login["fraction_of_all_cores"] = spread(
                        [r["flows_per_second"] / argon2["all_cores_hashes_per_second"] for r in logins]
                    )
                login["server_cpu_ms_per_flow_excluding_hash"] = spread(
                    [
                        1e3 * (r["server_cpu_seconds_per_flow"] - hash_seconds)
                        for r in logins
                        if r.get("server_cpu_seconds_per_flow")
                    ]
                )
            entry["login"] = login
        if entry.get("starts"):
            entry["startup_ms"] = spread([s["milliseconds"] for s in entry["starts"]])
        if entry.get("first_starts"):
            entry["first_startup_ms"] = spread([s["milliseconds"] for s in entry["first_starts"]])
    return summary


# ----- formatting -----


def num(value, digits=0):
    if value is None:
        return "–"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def with_range(stat, digits=0, scale=1.0, unit=""):
    if not stat:
        return "not measured"
    median = stat["median"] * scale
    low, high = stat["min"] * scale, stat["max"] * scale
    if stat["n"] == 1:
        return f"{num(median, digits)}{unit}"
    return f"{num(median, digits)}{unit} ({num(low, digits)}–{num(high, digits)})"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def ratio_text(value, digits=2):
    return "–" if value is None else f"{value:.{digits}f}×"


def verdict(passed):
    if passed is None:
        return "not measured"
    return "PASS" if passed else "FAIL"


def median_of(stat):
    return stat["median"] if stat else None


def render_markdown(summary):
    run = summary["run"]
    servers = summary["servers"]
    segl_keys = [key for key in ("segl/sqlite", "segl/postgres") if key in servers]
    node = servers.get("node-oidc-provider/memory")
    peer = next((p for p in summary["peers"] if p["server"] == "node-oidc-provider"), None)
    node_label = f"node-oidc-provider {peer['version']}" if peer else "node-oidc-provider"
    label = {"segl/sqlite": "Segl (SQLite)", "segl/postgres": "Segl (PostgreSQL)"}

    lines = []
    lines.append("# Segl beside its peers")
    lines.append("")
    lines.append(
        f"Run {run.get('started', '?')} at commit {run.get('commit', '?')}"
        + (f" (uncommitted changes in: {run['dirty']})" if run.get("dirty") else "")
        + f", {run.get('cores', '?')} cores ({run.get('cpu', '?')}), kernel {run.get('kernel', '?')}, "
        + f"{run.get('wrk', 'wrk')}, {run.get('rustc', '')}."
    )
    lines.append(
        f"wrk -t{run.get('wrk_threads')} -c{run.get('connections')} --latency, "
        f"{run.get('warmup_seconds')} s warm-up (not counted) then {run.get('reps')} runs × "
        f"{run.get('seconds')} s; each cell is the median (min–max) of the runs. "
        "Load generator and server share the machine's cores, as they do for every server in the table."
    )
    lines.append("")

    # Machine quietness.
    lines.append("## How busy the machine was")
    lines.append("")
    lines.append("| Block | 1/5/15-min load when the wait began | Waited | Load when measuring began | Quiet (1-min < 1.0)? |")
    lines.append("|---|---|---|---|---|")
    for quiet in summary["quiet"]:
        lines.append(
            f"| {quiet['label']} | {quiet['load_at_start']} | {quiet['waited_seconds']} s | {quiet['load']} | "
            f"{'yes' if quiet['quiet'] else '**NO: measured on a busy machine**'} |"
        )
    lines.append("")
    lines.append(
        "Per load below: *other CPU* is the machine's busy CPU during the runs minus the server's, its "
        "PostgreSQL backends' and the load generator's own CPU and minus steal (from /proc/stat, "
        "/proc/PID/stat and the generator's rusage), as a % of all cores: work by other processes that "
        "competed with the measurement. *Steal* is time the hypervisor gave to other guests."
    )
    lines.append("")

    columns = [label[key] for key in segl_keys]
    header = "| Measure | " + " | ".join(columns) + f" | {node_label} | Segl ÷ node | Target | Verdict |"
    lines.append("## Results")
    lines.append("")
    lines.append(header)
    lines.append("|" + "---|" * (len(columns) + 5))

    verdicts = []

    def row(measure, cells, node_cell="–", ratio_cell="–", target="", verdict_cell=""):
        lines.append(
            f"| {measure} | " + " | ".join(cells) + f" | {node_cell} | {ratio_cell} | {target} | {verdict_cell} |"
        )

    def per_backend_verdict(name, results):
        """results: list of (label, passed or None)."""
        text = "; ".join(
            f"{verdict(passed)}" if len(results) == 1 else f"{lab}: {verdict(passed)}" for lab, passed in results
        )
        verdicts.append((name, results))
        return text

    def load_of(key, load):
        return servers.get(key, {}).get("loads", {}).get(load)

    # Token endpoint.
    for load, alg, target_ratio in (("token_es256", "ES256", TARGETS["token_es256_ratio"]), ("token_rs256", "RS256", TARGETS["token_rs256_ratio"])):
        node_load = node["loads"].get(load) if node else None
        node_rps = median_of(node_load["rps"]) if node_load else None
        cells, ratios, results = [], [], []
        for key in segl_keys:
            segl_load = load_of(key, load)
            cells.append(with_range(segl_load["rps"]) if segl_load else "not measured")
            r = ratio(median_of(segl_load["rps"]) if segl_load else None, node_rps)
            ratios.append(r)
            results.append((label[key], None if r is None else r >= target_ratio))
        row(
            f"/token client_credentials {alg}, req/s",
            cells,
            with_range(node_load["rps"]) if node_load else "not measured",
            " / ".join(ratio_text(r) for r in ratios),
            f"≥ {target_ratio}× node",
            per_backend_verdict(f"token {alg} ≥ {target_ratio}× node-oidc-provider", results),
        )
        cells, results = [], []
        for key in segl_keys:
            segl_load = load_of(key, load)
            if segl_load:
                cells.append(
                    f"p50 {with_range(segl_load['p50_us'], 2, 1e-3, ' ms')}; p99 {with_range(segl_load['p99_us'], 2, 1e-3, ' ms')}"
                )
                results.append((label[key], median_of(segl_load["p99_us"]) < TARGETS["token_p99_us"]))
            else:
                cells.append("not measured")
                results.append((label[key], None))
        node_cell = (
            f"p50 {with_range(node_load['p50_us'], 2, 1e-3, ' ms')}; p99 {with_range(node_load['p99_us'], 2, 1e-3, ' ms')}"
            if node_load
            else "not measured"
        )
        row(
            f"/token {alg} latency at {run.get('connections')} connections",
            cells,
            node_cell,
            "",
            "p99 < 2 ms",
            per_backend_verdict(f"token {alg} p99 < 2 ms", results),
        )
        cells = []
        for key in segl_keys:
            segl_load = load_of(key, load)
            text = with_range(segl_load["server_cpu_us_per_request"], 0, 1, " µs") if segl_load else "–"
            if segl_load and median_of(segl_load["database_cpu_us_per_request"]):
                text += f" + PostgreSQL {with_range(segl_load['database_cpu_us_per_request'], 0, 1, ' µs')}"
            cells.append(text)
        row(
            f"/token {alg}: server CPU per request",
            cells,
            with_range(node_load["server_cpu_us_per_request"], 0, 1, " µs") if node_load else "–",
            "",
            "(diagnostic)",
            "",
        )

    # Discovery and JWKS.
    for load, title in (("discovery", "GET /.well-known/openid-configuration"), ("jwks", "GET /jwks")):
        node_load = node["loads"].get(load) if node else None
        node_rps = median_of(node_load["rps"]) if node_load else None
        cells, ratios, results = [], [], []
        for key in segl_keys:
            segl_load = load_of(key, load)
            if segl_load:
                cells.append(
                    f"{with_range(segl_load['rps'])} req/s; p99 {with_range(segl_load['p99_us'], 2, 1e-3, ' ms')}; "
                    f"{num(median_of(segl_load['bytes_per_response']))} B/response"
                )
                results.append((label[key], median_of(segl_load["rps"]) >= TARGETS["wellknown_rps"]))
                ratios.append(ratio(median_of(segl_load["rps"]), node_rps))
            else:
                cells.append("not measured")
                results.append((label[key], None))
                ratios.append(None)
        node_cell = (
            f"{with_range(node_load['rps'])} req/s; p99 {with_range(node_load['p99_us'], 2, 1e-3, ' ms')}; "
            f"{num(median_of(node_load['bytes_per_response']))} B/response"
            if node_load
            else "not measured"
        )
        row(
            title,
            cells,
            node_cell,
            " / ".join(ratio_text(r) for r in ratios),
            "≥ 60,000 req/s",
            per_backend_verdict(f"{title} ≥ 60,000 req/s", results),
        )

    # Login.
    cells, results = [], []
    for key in segl_keys:
        login = servers[key].get("login")
        if login and login.get("bound"):
            cells.append(
                f"{with_range(login['flows_per_second'], 1)} flows/s = {with_range(login['fraction_of_bound'], 0, 100, '%')} of the bound "
                f"{num(login['bound'], 1)}/s ({run.get('cores')} cores ÷ {num(login['hash_ms'], 1)} ms CPU per argon2id, the mean of "
                + " and ".join(f"{num(p['hash_cpu_ms'], 1)} ms {name}" for name, p in login["hash_phases"].items())
                + " the runs); "
                f"{login['workers']} workers; flow p99 {with_range(login['flow_p99_ms'], 0, 1, ' ms')}"
            )
            results.append((label[key], login["fraction_of_bound"]["median"] >= TARGETS["login_fraction"]))
        else:
            cells.append("not measured")
            results.append((label[key], None))
    row(
        "Whole login (authorize → form → code → token), argon2id m=19456 t=2 p=1",
        cells,
        "not measured (login UI not set up)",
        "",
        "≥ 90% of argon2 bound",
        per_backend_verdict("login flows ≥ 90% of the argon2 bound", results),
    )
    cells = []
    for key in segl_keys:
        login = servers[key].get("login")
        text = (
            f"{with_range(login.get('server_cpu_ms_per_flow_excluding_hash'), 1, 1, ' ms')} "
            f"(total {with_range(login.get('server_cpu_ms_per_flow'), 1, 1, ' ms')} − one hash {num(login.get('hash_ms'), 1)} ms)"
            if login
            else "–"
        )
        if login and median_of(login.get("database_cpu_ms_per_flow")):
            text += f"; plus PostgreSQL {with_range(login['database_cpu_ms_per_flow'], 1, 1, ' ms')} per flow"
        cells.append(text)
    row("Login: server CPU per flow excluding the hash", cells, "–", "", "(diagnostic)", "")
    cells = []
    for key in segl_keys:
        login = servers[key].get("login")
        cells.append(
            f"{with_range(login.get('fraction_of_all_cores'), 0, 100, '%')} of {num(login.get('all_cores_hashes'), 1)} hashes/s "
            "(argon2id alone on every core at once, measured in the load generator)"
            if login and login.get("all_cores_hashes")
            else "–"
        )
    row("Login flows against argon2id alone on all cores", cells, "–", "", "(diagnostic)", "")

    # Userinfo and introspection.
    for load, title in (("userinfo", "GET /userinfo (Bearer)"), ("introspect", "POST /introspect (Basic)")):
        cells = []
        for key in segl_keys:
            segl_load = load_of(key, load)
            cells.append(
                f"{with_range(segl_load['rps'])} req/s; p99 {with_range(segl_load['p99_us'], 2, 1e-3, ' ms')}"
                if segl_load
                else "not measured"
            )
        row(title, cells, "not measured", "", "", "")

    # Memory and start.
    cells, results = [], []
    node_idle = node.get("rss", {}).get("idle_ES256") if node else None
    for key in segl_keys:
        rss = servers[key].get("rss", {})
        idle = rss.get("idle")
        parts = servers[key].get("rss_breakdown")
        detail = (
            f" (anonymous {num(parts['anon_kib'] / 1024, 1)} MiB; file-backed {num(parts['file_kib'] / 1024, 1)} MiB, "
            f"of which the segl binary {num(parts['binary_kib'] / 1024, 1)} MiB of its {num(parts['binary_text_kib'] / 1024, 1)} MiB text)"
            if parts
            else ""
        )
        cells.append(f"{num(idle / 1024, 1)} MiB{detail}" if idle else "not measured")
        results.append((label[key], None if idle is None else idle <= TARGETS["idle_rss_kib"]))
    row(
        "Idle RSS after start",
        cells,
        f"{num(node_idle / 1024, 1)} MiB" if node_idle else "–",
        " / ".join(
            ratio_text(ratio(node_idle, servers[key].get("rss", {}).get("idle")), 1) + " less" for key in segl_keys
        )
        if node_idle
        else "–",
        "≤ 15 MiB",
        per_backend_verdict("idle RSS ≤ 15 MiB", results),
    )
    cells = []
    for key in segl_keys:
        after = servers[key].get("rss", {}).get("after_loads")
        cells.append(f"{num(after / 1024, 1)} MiB" if after else "–")
    node_after = [node["rss"].get(f"after_loads_{alg}") for alg in ("ES256", "RS256")] if node else []
    row(
        "RSS after the loads",
        cells,
        " / ".join(f"{num(v / 1024, 1)} MiB" for v in node_after if v) + " (ES256 / RS256 instance)" if any(node_after) else "–",
        "",
        "",
        "",
    )
    cells, results = [], []
    for key in segl_keys:
        start = servers[key].get("startup_ms")
        first = servers[key].get("first_startup_ms")
        cells.append(
            f"{with_range(start, 1, 1, ' ms')} (first start, creating keys: {with_range(first, 1, 1, ' ms')})"
            if start
            else "not measured"
        )
        results.append((label[key], None if start is None else start["median"] <= TARGETS["startup_ms"]))
    node_start = node.get("first_startup_ms") if node else None
    row(
        "Start to first 200 on discovery (existing database)",
        cells,
        f"{with_range(node_start, 0, 1, ' ms')} (includes generating its keys)" if node_start else "–",
        "",
        "≤ 30 ms",
        per_backend_verdict("start to first discovery 200 ≤ 30 ms", results),
    )

    # Registry.
    for backend in ("sqlite", "postgres"):
        registry = summary["registry"].get(backend)
        if not registry:
            continue
        cells = []
        for key in segl_keys:
            cells.append(
                f"CPR lookup p50/p99/max {registry['cpr_us']['p50']}/{registry['cpr_us']['p99']}/{registry['cpr_us']['max']} µs; "
                f"import {num(registry['rows_per_second'])} rows/s"
                if key.endswith(backend)
                else "–"
            )
        results = [
            ("lookup p99 < 1 ms", registry["cpr_us"]["p99"] < 1000),
        ]
        if backend == "sqlite":
            results.append(("import ≥ 50,000 rows/s", registry["rows_per_second"] >= 50_000))
        verdicts.append((f"registry ({backend}) at {registry['rows']:,} rows", results))
        row(
            f"Registry at {registry['rows']:,} citizens ({backend}), registry_bench",
            cells,
            "–",
            "",
            "p99 < 1 ms" + ("; ≥ 50,000 rows/s" if backend == "sqlite" else "") + " (registry_bench's targets)",
            "; ".join(f"{name}: {verdict(passed)}" for name, passed in results),
        )

    # Errors.
    cells, results = [], []
    for key in segl_keys:
        entry = servers[key]
        non2xx = sum(load["non_2xx_3xx"] for load in entry["loads"].values())
        sockets = sum(load["socket_errors"] for load in entry["loads"].values())
        login = entry.get("login", {})
        logs = entry.get("server_logs", [])
        log_errors = sum(log.get("error_lines", 0) for log in logs)
        cells.append(
            f"non-2xx/3xx {non2xx}, socket errors {sockets}; login: failed flows {login.get('failed_flows', 0)} "
            f"(5xx {login.get('server_errors', 0)}, transport {login.get('transport_errors', 0)}); ERROR log lines {log_errors}"
        )
        results.append((label[key], non2xx == 0 and sockets == 0 and login.get("failed_flows", 0) == 0))
    if node:
        non2xx = sum(load["non_2xx_3xx"] for load in node["loads"].values())
        sockets = sum(load["socket_errors"] for load in node["loads"].values())
        node_cell = f"non-2xx/3xx {non2xx}, socket errors {sockets}"
    else:
        node_cell = "–"
    row(
        "Errors under every load (warm-ups included)",
        cells,
        node_cell,
        "",
        "no 5xx, no socket errors",
        per_backend_verdict("no 5xx and no socket errors under any load", results),
    )
    lines.append("")
    lines.append(
        "wrk counts 4xx and 5xx together as \"Non-2xx or 3xx responses\", so the error row is stricter than "
        "the target (any non-2xx/3xx fails it); every load is checked for a 200 with curl before it starts."
    )
    lines.append("")

    # Keycloak reference.
    lines.append("## Reference from paper: Keycloak's published sizing (not measured here)")
    lines.append("")
    cores = run.get("cores") or 2
    lines.append(
        f"Keycloak sizes one vCPU per {KEYCLOAK_LOGINS_PER_VCPU} password logins/s and per "
        f"{KEYCLOAK_GRANTS_PER_VCPU} client_credentials grants/s, i.e. on this {cores}-core machine "
        f"{KEYCLOAK_LOGINS_PER_VCPU * cores} logins/s and {KEYCLOAK_GRANTS_PER_VCPU * cores} grants/s. "
        "Those are Keycloak's own planning figures, not a measurement on this machine."
    )
    lines.append("")
    lines.append("| Measure | " + " | ".join(columns) + " | Keycloak (paper) | Segl ÷ paper |")
    lines.append("|" + "---|" * (len(columns) + 3))
    for load, alg in (("token_es256", "ES256"), ("token_rs256", "RS256")):
        values = [median_of(load_of(key, load)["rps"]) if load_of(key, load) else None for key in segl_keys]
        paper = KEYCLOAK_GRANTS_PER_VCPU * cores
        lines.append(
            f"| client_credentials {alg}, /s | " + " | ".join(num(v) for v in values) + f" | {paper} | "
            + " / ".join(ratio_text(ratio(v, paper), 1) for v in values) + " |"
        )
    values = [
        median_of(servers[key]["login"]["flows_per_second"]) if servers[key].get("login") else None
        for key in segl_keys
    ]
    paper = KEYCLOAK_LOGINS_PER_VCPU * cores
    lines.append(
        "| password logins, /s | " + " | ".join(num(v, 1) for v in values) + f" | {paper} | "
        + " / ".join(ratio_text(ratio(v, paper), 1) for v in values) + " |"
    )
    lines.append("")

    # Verdicts.
    lines.append("## Targets")
    lines.append("")
    for name, results in verdicts:
        lines.append(f"- {name}: " + "; ".join(f"{lab} **{verdict(passed)}**" for lab, passed in results))
    lines.append("")

    # Memory after each load.
    lines.append("## Resident memory after each load (VmRSS)")
    lines.append("")
    for key, entry in servers.items():
        rss = entry.get("rss", {})
        if rss:
            lines.append(f"- {key}: " + ", ".join(f"{name} {value / 1024:.1f} MiB" for name, value in rss.items()))
    lines.append("")

    # Machine during each load.
    lines.append("## The machine during each load")
    lines.append("")
    lines.append(
        "Other CPU is the machine's busy time less the server's, the database's and the load generator's. "
        "The machine's figure comes from clock-tick sampling (`/proc/stat`) and the processes' from their "
        "own accounting, so a few percent either side of 0 is accounting noise, not work; below 0 it shows as 0."
    )
    lines.append("")
    lines.append("| Server | Load | 1-min load before → after (per run) | Other CPU % (median, max) | Steal % | Server CPU per request | PostgreSQL CPU per request |")
    lines.append("|---|---|---|---|---|---|---|")
    for key, entry in servers.items():
        for name, load in entry["loads"].items():
            transitions = ", ".join(
                f"{before.split()[0]}→{after.split()[0]}" for before, after in zip(load["load_before"], load["load_after"])
            )
            other = load["other_cpu_percent"]
            steal = load["steal_percent"]
            lines.append(
                f"| {key} | {name} | {transitions} | "
                + (f"{max(other['median'], 0):.1f}, {max(other['max'], 0):.1f}" if other else "–")
                + f" | {(steal['median'] if steal else 0):.1f}"
                + f" | {with_range(load['server_cpu_us_per_request'], 0, 1, ' µs')}"
                + f" | {with_range(load['database_cpu_us_per_request'], 0, 1, ' µs') if median_of(load['database_cpu_us_per_request']) else '–'} |"
            )
        login = entry.get("login")
        if login:
            transitions = ", ".join(
                f"{before.split()[0]}→{after.split()[0]}" for before, after in zip(login["load_before"], login["load_after"])
            )
            other = login["other_cpu_percent"]
            steal = login["steal_percent"]
            lines.append(
                f"| {key} | login | {transitions} | "
                + (f"{max(other['median'], 0):.1f}, {max(other['max'], 0):.1f}" if other else "–")
                + f" | {(steal['median'] if steal else 0):.1f}"
                + f" | {with_range(login.get('server_cpu_ms_per_flow'), 1, 1, ' ms')} per flow"
                + f" | {with_range(login['database_cpu_ms_per_flow'], 1, 1, ' ms') + ' per flow' if median_of(login.get('database_cpu_ms_per_flow')) else '–'} |"
            )
    for backend, registry in summary["registry"].items():
        machine = registry["machine"]
        lines.append(
            f"| registry_bench | {backend} | {machine['load_before'].split()[0]}→{machine['load_after'].split()[0]} | "
            f"{max(machine['other_cpu_percent'] or 0, 0):.1f} | {machine.get('steal_percent') or 0:.1f} | – | – |"
        )
    lines.append("")
    if node and peer:
        lines.append(
            f"node-oidc-provider {peer['version']} ran on Node.js {peer['node']} as one process (Node's default; "
            "no cluster), in-memory adapter, one instance per signing algorithm; its JWK Set has the same shape as "
            "Segl's (an active and a next key for each of ES256, RS256, PS256 and EdDSA)."
        )
        lines.append("")
    return "\n".join(lines) + "\n", verdicts


# ----- the chart -----


def render_svg(summary):
    servers = summary["servers"]
    node = servers.get("node-oidc-provider/memory")
    cores = summary["run"].get("cores") or 2
    bars = []  # (label, value, target or None, colour)
    colours = {"sqlite": "#2b6cb0", "postgres": "#2f855a"}
    for key in ("segl/sqlite", "segl/postgres"):
        entry = servers.get(key)
        if not entry:
            continue
        backend = entry["backend"]
        colour = colours[backend]
        name = "SQLite" if backend == "sqlite" else "PostgreSQL"
        for load, title, target in (
            ("token_es256", "token ES256 ÷ node", TARGETS["token_es256_ratio"]),
            ("token_rs256", "token RS256 ÷ node", TARGETS["token_rs256_ratio"]),
            ("discovery", "discovery ÷ node", None),
            ("jwks", "JWKS ÷ node", None),
        ):
            segl_load = entry["loads"].get(load)
            node_load = node["loads"].get(load) if node else None
            if segl_load and node_load:
                bars.append((f"{name}: {title}", ratio(median_of(segl_load["rps"]), median_of(node_load["rps"])), target, colour))
        for load, title, target in (("discovery", "discovery ÷ 60k target", 1.0), ("jwks", "JWKS ÷ 60k target", 1.0)):
            segl_load = entry["loads"].get(load)
            if segl_load:
                bars.append((f"{name}: {title}", median_of(segl_load["rps"]) / TARGETS["wellknown_rps"], target, colour))
        login = entry.get("login")
        if login and login.get("fraction_of_bound"):
            bars.append((f"{name}: login ÷ argon2 bound", login["fraction_of_bound"]["median"], TARGETS["login_fraction"], colour))
        token = entry["loads"].get("token_es256")
        if token:
            bars.append(
                (f"{name}: token ES256 ÷ Keycloak paper ({KEYCLOAK_GRANTS_PER_VCPU * cores}/s)",
                 median_of(token["rps"]) / (KEYCLOAK_GRANTS_PER_VCPU * cores), None, "#a0aec0")
            )
        if login:
            bars.append(
                (f"{name}: logins ÷ Keycloak paper ({KEYCLOAK_LOGINS_PER_VCPU * cores}/s)",
                 login["flows_per_second"]["median"] / (KEYCLOAK_LOGINS_PER_VCPU * cores), None, "#a0aec0")
            )
    bars = [bar for bar in bars if bar[1] is not None and bar[1] > 0]
    width, left, right, top, bar_height, gap = 980, 360, 60, 60, 18, 8
    height = top + len(bars) * (bar_height + gap) + 50
    low, high = 0.1, 100.0
    for _, value, target, _ in bars:
        low = min(low, value / 2, (target or value) / 2)
        high = max(high, value * 2, (target or value) * 2)
    low = 10 ** math.floor(math.log10(low))
    high = 10 ** math.ceil(math.log10(high))
    plot = width - left - right

    def x(value):
        return left + plot * (math.log10(value) - math.log10(low)) / (math.log10(high) - math.log10(low))

    def esc(text):
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="24" font-size="15" font-weight="bold">Segl ratios, run {esc(summary["run"].get("started", ""))} (log scale; 1× = parity)</text>',
        f'<text x="{left}" y="42" fill="#555">bars: measured medians; black ticks: the issue\'s targets; grey bars: against Keycloak\'s published sizing (paper, not measured)</text>',
    ]
    decade = low
    while decade <= high * 1.0001:
        gx = x(decade)
        out.append(f'<line x1="{gx:.1f}" y1="{top - 6}" x2="{gx:.1f}" y2="{height - 40}" stroke="#ddd"/>')
        out.append(f'<text x="{gx:.1f}" y="{height - 24}" text-anchor="middle" fill="#555">{decade:g}×</text>')
        decade *= 10
    one = x(1.0)
    out.append(f'<line x1="{one:.1f}" y1="{top - 6}" x2="{one:.1f}" y2="{height - 40}" stroke="#333" stroke-dasharray="4 3"/>')
    for index, (name, value, target, colour) in enumerate(bars):
        y = top + index * (bar_height + gap)
        out.append(f'<text x="{left - 8}" y="{y + 13}" text-anchor="end">{esc(name)}</text>')
        x0, x1 = x(low), x(value)
        out.append(f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" height="{bar_height}" fill="{colour}"/>')
        out.append(f'<text x="{x1 + 4:.1f}" y="{y + 13}">{value:.2f}×</text>')
        if target:
            tx = x(target)
            passed = value >= target
            out.append(f'<line x1="{tx:.1f}" y1="{y - 3}" x2="{tx:.1f}" y2="{y + bar_height + 3}" stroke="black" stroke-width="2"/>')
            out.append(
                f'<text x="{width - 8}" y="{y + 13}" text-anchor="end" font-weight="bold" fill="{"#2f855a" if passed else "#c53030"}">'
                f'{"PASS" if passed else "FAIL"}</text>'
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: report.py RAW OUT_DIR")
    records = read_records(sys.argv[1])
    out_dir = Path(sys.argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarise(records)
    markdown, verdicts = render_markdown(summary)
    (out_dir / "latest.md").write_text(markdown)
    # The summary without the per-run copies (those are in "raw", once).
    compact = json.loads(json.dumps(summary))
    for entry in compact["servers"].values():
        for load in entry["loads"].values():
            load.pop("runs", None)
            load.pop("warmups", None)
        entry.pop("login_runs", None)
    for registry in compact["registry"].values():
        registry.pop("output", None)
    document = {
        "summary": compact,
        "verdicts": [{"target": name, "results": [{"where": lab, "pass": passed} for lab, passed in results]} for name, results in verdicts],
        "keycloak_paper": {
            "logins_per_vcpu": KEYCLOAK_LOGINS_PER_VCPU,
            "client_credentials_per_vcpu": KEYCLOAK_GRANTS_PER_VCPU,
            "measured": False,
        },
        "raw": records,
    }
    (out_dir / "latest.json").write_text(json.dumps(document, indent=1) + "\n")
    (out_dir / "latest.svg").write_text(render_svg(summary))


if __name__ == "__main__":
    main()
