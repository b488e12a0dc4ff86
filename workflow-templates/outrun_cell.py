# outrun's cell wrapper for GitHub Actions: the same cell contract that `outrun run --local` keeps.
# Python standard library only, so that it runs on any runner or container that has python3.
#
#   python3 -c "$OUTRUN_CELL_PY" plan   selects cells (input `cells`, same filter language as `outrun run --cells`),
#                                       packs them into jobs and writes the names of one wave's jobs (at most 256)
#   python3 -c "$OUTRUN_CELL_PY" run    runs the cells of job OUTRUN_SHARD, each with its parameters in
#                                       OUTRUN_P_*, its own empty $OUTRUN_OUT, logs and a cell.json
#
# The cells and the command come from OUTRUN_CELLS_FILE, a JSON file generated beside the workflow
# and read from the checkout: a 50,000-cell experiment fits neither a workflow file (500 KB), an
# environment value (128 KiB) nor a job's outputs (1 MB). Everything else arrives through the
# environment, never pasted into this text by an expression.
import datetime, json, os, signal, socket, stat, subprocess, sys, time

with open(os.environ["OUTRUN_CELLS_FILE"], encoding="utf-8") as _f:
    CFG = json.load(_f)
# The contract's constants come from outrun itself (src/contract.rs), through the cells file.
MAX_JOBS = CFG["max_jobs"]
KILL_GRACE_S = CFG["kill_grace_s"]


def glob(pattern, s):
    import fnmatch
    return fnmatch.fnmatchcase(s, pattern.replace("[", "[[]"))


def matches(alternatives, cell):
    if not alternatives:
        return True
    params = dict(cell["params"])
    for alt in alternatives:
        ok = True
        for cond in alt:
            if "=" in cond:
                k, v = (x.strip() for x in cond.split("=", 1))
                ok = ok and k in params and glob(v, params[k])
            else:
                ok = ok and glob(cond, cell["id"])
        if ok:
            return True
    return False


def select():
    text = os.environ.get("OUTRUN_SELECT", "")
    alternatives = [[c.strip() for c in a.split("&")] for a in text.split(",") if a.strip()]
    known = {k for c in CFG["cells"] for k, _ in c["params"]}
    for alt in alternatives:
        for cond in alt:
            if not cond:
                sys.exit(f"outrun: cells filter {text!r}: empty condition")
            if "=" in cond and cond.split("=", 1)[0].strip() not in known:
                sys.exit(f"outrun: cells filter {text!r}: no parameter {cond.split('=', 1)[0].strip()!r}")
    cells = [c for c in CFG["cells"] if matches(alternatives, c)]
    if not cells:
        sys.exit(f"outrun: cells filter {text!r} selects no cell")
    return cells


def shards(cells):
    """(name, wave, cells) of each job. Mirrors outrun's `workflow::pack::shards`, the one place
    that decides which cells a job runs: as many jobs as one run allows, never more cells per
    job than fit the runner's job limit, further runs (waves) for what does not fit in one."""
    per_job = min(max(-(-len(cells) // MAX_JOBS), 1), max(CFG["max_cells_per_job"], 1))
    jobs = -(-len(cells) // per_job)
    out = []
    for i in range(jobs):
        group = cells[i * per_job:(i + 1) * per_job]
        name = group[0]["id"] if per_job == 1 else "shard-%03d" % i
        out.append((name, i // MAX_JOBS + 1, group))
    return out


def plan():
    cells = select()
    all_shards = shards(cells)
    waves = all_shards[-1][1]
    text = os.environ.get("OUTRUN_WAVE", "").strip() or "1"
    if not text.isdigit() or not 1 <= int(text) <= waves:
        sys.exit(f"outrun: wave {text!r}: these {len(cells)} cells make {waves} wave(s) of at most {MAX_JOBS} jobs")
    wave = int(text)
    mine = [s for s in all_shards if s[1] == wave]
    with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
        out.write("matrix=" + json.dumps({"shard": [s[0] for s in mine]}, separators=(",", ":")) + "\n")
        out.write(f"count={sum(len(s[2]) for s in mine)}\n")
    print(f"outrun: {len(cells)} of {len(CFG['cells'])} cells in {len(all_shards)} jobs; wave {wave} of {waves}: {len(mine)} jobs")


def kill_group(pid, sig):
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run_cell(cell, root):
    out = os.path.join(root, cell["id"])
    os.makedirs(out, exist_ok=False)
    env = dict(os.environ)
    for k, v in cell["params"]:
        env["OUTRUN_P_" + k.upper()] = v
    env.update(OUTRUN_EXPERIMENT=CFG["experiment"], OUTRUN_CELL=cell["id"], OUTRUN_OUT=out)
    started, t0 = now(), time.monotonic()
    try:
        with open(os.path.join(out, "stdout.log"), "wb") as so, open(os.path.join(out, "stderr.log"), "wb") as se:
            # A session of its own, so that a timeout kills the whole process group.
            p = subprocess.Popen(["bash", "-c", CFG["command"]], env=env, stdout=so, stderr=se,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
            code, status, error = wait(p)
    except OSError as e:
        # This cell cannot start (its environment is too large: "Argument list too long"):
        # it fails with the reason, and the job's other cells still run.
        status, code, error = "failed", None, f"cannot start the command: {e.strerror or e}"
    if status == "ok" and code is not None and code < 0:
        # Killed by a signal: no exit status, as the local wrapper reports it.
        status, code, error = "failed", None, f"killed by signal {-code}"
    elif status == "ok" and code != 0:
        status, error = "failed", f"exit status {code}"
    record = {
        "schema": "outrun.cell/v1",
        "experiment": CFG["experiment"],
        "cell": cell["id"],
        "params": dict(cell["params"]),
        "status": status,
        "exit_code": code if status != "timed_out" else None,
        "error": error,
        "started_at": started,
        "finished_at": now(),
        "duration_s": round(time.monotonic() - t0, 3),
        "source": "github",
        "runner": os.environ.get("RUNNER_NAME") or socket.gethostname(),
        "commit": os.environ.get("GITHUB_SHA"),
        "run_id": os.environ.get("GITHUB_RUN_ID", ""),
        "attempt": int(os.environ.get("GITHUB_RUN_ATTEMPT", "1")),
    }
    try:
        # Never through a link the command planted in place of cell.json or of its whole folder
        # (`rm -rf "$OUTRUN_OUT"; ln -s DIR "$OUTRUN_OUT"`): the folder is opened beneath the
        # root without following a link, cell.json beneath it likewise (as outrun does,
        # src/fsutil.rs); a regular file with one name only. A cell that removed its own folder
        # or a full disk fails this cell only.
        top = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            own = os.open(cell["id"], os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=top)
        finally:
            os.close(top)
        try:
            fd = os.open("cell.json", os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644, dir_fd=own)
        finally:
            os.close(own)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
            os.close(fd)
            raise OSError(0, "cell.json is not a regular file with one name")
        os.ftruncate(fd, 0)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=2)
            f.write("\n")
    except OSError as e:
        record.update(status="failed", error=f"cannot write cell.json: {e.strerror or e}")
    print(f"outrun: {cell['id']}: {record['status']}" + (f" ({record['error']})" if record["error"] else ""), flush=True)
    return record


def wait(p):
    """Waits for the cell's command within its timeout: (exit code, status, error)."""
    code, status, error = None, "ok", None
    try:
        code = p.wait(timeout=CFG["timeout_s"])
    except subprocess.TimeoutExpired:
        kill_group(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=KILL_GRACE_S)
        except subprocess.TimeoutExpired:
            pass
        status, error = "timed_out", f"killed after the {CFG['timeout_s']} s timeout"
    # Whatever the command left running in the background goes with it (as locally).
    kill_group(p.pid, signal.SIGKILL)
    p.wait()
    return code, status, error


def md(value):
    """A value for a Markdown table cell: nothing can end the cell, open HTML, mention anyone
    or become a link (a U+2060 word joiner breaks @name, #12, GH-4 and URLs)."""
    out = str(value).replace("\\", "\\\\").replace("|", "\\|").replace("&", "&amp;")
    out = out.replace("<", "&lt;").replace(">", "&gt;").replace("`", "\\`")
    for a, b in (("@", "@\u2060"), ("#", "#\u2060"), ("://", ":\u2060//"), ("www.", "www\u2060."), ("GH-", "GH\u2060-"), ("gh-", "gh\u2060-")):
        out = out.replace(a, b)
    # Bidi controls would reorder what a reader sees: shown as U+FFFD, as in outrun's report.
    out = out.translate(BIDI)
    return " ".join(out.split())[:200]


BIDI = {c: "\ufffd" for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]}


def scalar(v):
    """A JSON value as the text outrun merges (src/outputs/mod.rs)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def check_results(record, root):
    """The checks outrun applies to a cell's results when it merges them (src/outputs/mod.rs):
    a regular file, UTF-8, parsed, a header of distinct names, every row as wide as the header,
    at least one row, the key columns present (parameters count), filled and unique. So that
    this summary never calls "ok" a cell the report calls failed. Returns (why, header, rows):
    why is None when the results pass."""
    import csv
    # A field may be longer than csv's default limit (131,072 characters): outrun merges it.
    csv.field_size_limit(sys.maxsize)
    name = CFG["results_file"]
    path = os.path.join(root, record["cell"], name)
    if os.path.islink(path) or (os.path.lexists(path) and not os.path.isfile(path)):
        return f"{name} is not a regular file", [], []
    if not os.path.exists(path):
        return f"the command wrote no {name}", [], []
    size, limit = os.path.getsize(path), CFG["results_max_size"]
    if size > limit:
        return (f"{name} is {size} bytes: more than the {limit} bytes a cell's results may have "
                "(results.max-size)"), [], []
    try:
        # utf-8-sig: a byte-order mark starts the file, not its first column or object.
        with open(path, encoding="utf-8-sig", newline="") as f:
            if name.endswith(".jsonl"):
                header, objects = [], []
                for i, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    obj = json.loads(line)
                    if not isinstance(obj, dict):
                        return f"{name} line {i}: expected a JSON object", [], []
                    for k, v in obj.items():
                        if isinstance(v, (dict, list)):
                            return f"{name} line {i}: `{k}` is not a scalar", [], []
                        if k not in header:
                            header.append(k)
                    objects.append(obj)
                rows = [[scalar(o.get(h)) for h in header] for o in objects]
            else:
                reader = csv.reader(f, strict=True)
                header = [h.strip() for h in next(reader, [])]
                if not any(header):
                    return f"{name} has no header row", [], []
                seen = set()
                for h in header:
                    if not h or h in seen:
                        return f"{name}: header has an empty or repeated column `{h}`", [], []
                    seen.add(h)
                rows = []
                for row in reader:
                    if not row:
                        continue
                    if len(row) != len(header):
                        return (f"{name} line {reader.line_num}: {len(row)} fields under a "
                                f"{len(header)}-column header"), [], []
                    rows.append(row)
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as e:
        return f"{name}: {e}", [], []
    reserved = [h for h in header if h.lower().startswith("outrun_")]
    if reserved:
        return (f"{name} has a column `{reserved[0]}`: names starting with `outrun_` are reserved "
                "for the dataset's provenance columns; rename it"), [], []
    if len(header) > CFG["max_result_columns"]:
        return f"{name} has {len(header)} columns; at most {CFG['max_result_columns']} are merged", [], []
    if not rows:
        return f"{name} has no rows", [], []
    # Parameters are columns too where the results lack them (so keys may be parameters).
    for k, v in sorted(record.get("params", {}).items()):
        if k not in header:
            header.append(k)
            rows = [r + [v] for r in rows]
    keys = CFG["results_keys"]
    missing = [k for k in keys if k not in header]
    if missing:
        return f"{name} lacks the key column(s) {', '.join(missing)}", [], []
    at = [header.index(k) for k in keys]
    seen = set()
    for i, r in enumerate(rows, 1):
        key = tuple(r[j] for j in at)
        if any(not k for k in key):
            return f"{name} row {i}: empty key column", [], []
        if key in seen:
            return f"{name} row {i}: key ({', '.join(key)}) appears twice", [], []
        seen.add(key)
    return None, header, rows


def summary(records, root, rows_per_cell=3):
    """This job's cells for the job summary: status, duration, why, and a few result rows. A
    cell whose command succeeded is "ok" only if its results pass the merge's checks."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    checked = []
    for r in records:
        why, header, rows = (r["error"], [], [])
        status = r["status"]
        if status == "ok":
            why, header, rows = check_results(r, root)
            if why:
                status = "failed"
        checked.append((r, status, why, header, rows))
    lines = ["### outrun: " + md(CFG["experiment"]), "", "| cell | status | duration | why |", "| --- | --- | --- | --- |"]
    for r, status, why, _, _ in checked:
        lines.append("| `%s` | %s | %.1f s | %s |" % (r["cell"], status.replace("_", " "), r["duration_s"], md(why or "")))
    for r, status, _, header, rows in checked:
        if status != "ok":
            continue
        width = min(len(header), 8)
        lines += ["", "`%s`, first rows:" % r["cell"], "", "| " + " | ".join(md(h) for h in header[:width]) + " |", "|" + " --- |" * width]
        # Every row is as wide as the header (checked above): cut both alike.
        lines += ["| " + " | ".join(md(v) for v in row[:width]) + " |" for row in rows[:rows_per_cell]]
    with open(path, "a", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n\n")


def run():
    name = os.environ["OUTRUN_SHARD"]
    mine = [s for s in shards(select()) if s[0] == name]
    if not mine:
        sys.exit(f"outrun: no job {name!r} in this selection")
    root = os.environ["OUTRUN_OUT_ROOT"]
    os.makedirs(root, exist_ok=True)
    ok = True
    records = []
    for cell in mine[0][2]:
        # The record as written, not read back: a process the cell left behind could have
        # rewritten the file since.
        record = run_cell(cell, root)
        ok = record["status"] == "ok" and ok
        records.append(record)
    summary(records, root)
    sys.exit(0 if ok else 1)


{"plan": plan, "run": run}[sys.argv[1]]()
