"""The story `mloop demo` tells, chapter by chapter, in a fresh workspace folder.

Month 1's data is validated, trained on, gated and deployed; the served model takes traffic and,
later, labels; month 2 drifts; the monitor alerts; the agent's policy retrains on what production
logged, gates the candidate and rolls it out as a canary that its guardrails promote. Then a rogue
candidate trained on corrupted labels is stopped by the gate, and a canary that fails on live
requests is rolled back by its guardrails. It ends with the report, the audit trail and the
champion's lineage from its data to its predictions.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mloop.demo.customers import (
    Server,
    customer_rows,
    describe,
    read_customers,
    receiver,
    send,
)
from mloop.demo.narration import Narrator, StoryFailed
from mloop.demo_data import generate, write

ENDPOINT = "churn"
LOOP_TOML = """
# The gate automated candidates must pass: no human approval (a job cannot wait for one).
[gates.loop]
thresholds = {{ classification = ["roc_auc >= 0.70"] }}
no_regression = {{ metric = "auto", tolerance = 0.02, bootstrap = 200, confidence = 0.90, on_noise = "pass" }}
min_holdout_rows = 30
data_validation = true

[monitors.churn]
window = "1h"
thresholds = ["drift_share <= 0.2", "estimated.roc_auc >= 0.70", "latency_p99_ms <= 250"]
segments = ["contract"]
webhooks = ["{webhook}"]
webhook_backoff_s = 0.2

[policies.churn]
triggers = [{{ kind = "manual" }}, {{ kind = "alert", alert = "drift" }}]
cooldown = "5s"
data = {{ log = "7d" }}
train = {{ target = "churned", model = "logistic", seed = 3, register = "churn", params = {{ C = 1.0 }} }}
gate = "loop"

[policies.churn.rollout]
strategy = "canary"
weight = 50
min_sample = 150
watch = "2m"
guardrails = ["error_rate <= 0.01", "rejection_rate <= 0.25", "realised.roc_auc >= 0.70"]

[agent]
tick = "0.25s"
"""


SCRIPT = """
$ python -   # (run by the demo, in this workspace)
import mloop, pandas as pd
from mloop.demo.models import SpeedTierModel
extract = pd.read_csv("data/churn-2026-01.csv", keep_default_na=False, na_values=[""])
with mloop.start_run(experiment="churn", name="hand-made candidate") as run:
    run.log_input(mloop.get_dataset("churn@1"))
    run.log_model(SpeedTierModel.fit(extract, "churned"), "churn", target="churned")
"""


# What this process itself runs later (the quiet polls through the CLI's main, the hand-made
# candidate's fit and log_model): imported while chapter 1's commands run in their own processes,
# instead of in the middle of chapters 5 and 7.
WARM_UP = (
    "mloop.cli.jobs",
    "mloop.cli.rollouts",
    "mloop.loop.jobs",
    "mloop.rollouts.service",
    "mloop.fluent",
    "mloop.registry.register",
    "mloop.flavors.pyfunc",
    "mloop.flavors.sklearn",
    "sklearn.compose",
    "sklearn.impute",
    "sklearn.linear_model",
    "sklearn.pipeline",
    "sklearn.preprocessing",
)


def _warm_up() -> None:
    for module in WARM_UP:
        with contextlib.suppress(Exception):  # only a head start: a failure shows where it is used
            importlib.import_module(module)


def _json(done: Any) -> Any:
    return json.loads(done.stdout)


def _register_flawed(folder: Path) -> str:
    import mloop
    from mloop.demo.models import SpeedTierModel
    from mloop.registry.versions import ModelVersion

    extract = read_customers(folder / "data" / "churn-2026-01.csv")
    with (
        mloop.Workspace.open(folder) as ws,
        mloop.start_run(experiment="churn", name="hand-made candidate", workspace=ws) as run,
    ):
        run.log_input(mloop.get_dataset("churn@1", workspace=ws))
        version = run.log_model(SpeedTierModel.fit(extract, "churned"), "churn", target="churned")
    if not isinstance(version, ModelVersion):
        raise StoryFailed("log_model registered nothing; the hand-made candidate is missing.")
    return version.ref


class Story:
    def __init__(
        self,
        folder: Path,
        *,
        color: bool,
        rows: int = 1500,
        cli: Callable[[list[str]], int] | None = None,
    ) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.rows = rows
        self.n = Narrator(folder, color=color, cli=cli)
        self.server: Server | None = None

    # --- chapters -----------------------------------------------------------------------------

    def month_one(self) -> None:
        n = self.n
        n.title("Month 1: data in, validated, trained, gated, deployed")
        n.say("Customer tables as a data team exports them (nulls, dates, categories)")
        month1 = generate(self.rows, seed=1, month=1)
        month2 = generate(self.rows, seed=2, month=2, drift=True)
        write(month1, self.data / "churn-2026-01.csv")
        write(month2, self.data / "churn-2026-02.csv")
        rogue = month1.copy()
        rogue["churned"] = np.random.default_rng(5).permutation(rogue["churned"].to_numpy())
        write(rogue, self.data / "churn-2026-01-relabelled.csv")
        n.note("data/churn-2026-01.csv, data/churn-2026-02.csv (drifted), and a corrupted export")
        n.mloop("init", ".")
        n.mloop("data", "add", "churn", "data/churn-2026-01.csv")
        n.say("Month 2's export has a payment method month 1 never had: validation says so")
        n.mloop("data", "validate", "churn", "data/churn-2026-02.csv", expect=1)
        n.mloop(
            "train", "--data", "churn@1", "--target", "churned", "--model", "logistic",
            "--param", "C=0.05", "--seed", "3", "--experiment", "churn", "--register", "churn",
        )  # fmt: skip
        n.mloop("models", "promote", "churn", "1", "--to", "production", "--reason", "first model")
        n.mloop("deploy", ENDPOINT, "churn@production", "--reason", "first endpoint")

    def serve(self, webhook: str) -> None:
        n = self.n
        n.title("Serving, watched by a monitor and driven by a retraining policy")
        with (self.folder / "mloop.toml").open("a") as toml:
            toml.write(LOOP_TOML.format(webhook=webhook))
        n.note("mloop.toml now has a [gates.loop] gate, a [monitors.churn] monitor and a")
        n.note("[policies.churn] policy: on a drift alert, retrain on the log's labelled inputs,")
        n.note("gate, then a 50% canary promoted only if its guardrails hold on live traffic")
        n.note("(month 2 brings a payment method no model knows yet: champion and candidate alike")
        n.note("refuse those requests, about 16%, so the rejection bar sits above that; labels")
        n.note("come back by customer id, so the candidate's realised AUC is judged as it serves)")
        self.server = Server(self.folder, self.folder / "serve.log", agent=True)
        print(f"$ {self.server.command} &   (the agent runs beside the server)")
        print(f"serving {self.server.url}")
        self.server.wait_revision(ENDPOINT, 1)

    def traffic(self, file: str, label: str) -> None:
        assert self.server is not None
        n = self.n
        rows = customer_rows(read_customers(self.data / file))
        n.say(f"{label}: {len(rows):,} customers call the endpoint, keyed by customer id")
        counts = send(self.server.url, ENDPOINT, rows)
        n.note(describe(counts))

    def labels(self, file: str) -> None:
        self.n.say("Days later, the labels come back and are joined to the predictions")
        self.n.mloop(
            "feedback", ENDPOINT, "--input", f"data/{file}", "--label-column", "churned",
            "--key-column", "customer_id",
        )  # fmt: skip

    def month_two(self) -> None:
        n = self.n
        n.title("Month 2 drifts, and the monitor says so")
        started = dt.datetime.now(dt.UTC).replace(microsecond=0)
        self.traffic("churn-2026-02.csv", "Month 2")
        self.labels("churn-2026-02.csv")
        n.say("The monitor: drift explained, estimated and realised AUC side by side, an alert")
        window = f"{started.isoformat()}/{(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)).isoformat(timespec='seconds')}"
        n.mloop(
            "monitor", ENDPOINT, "--window", window, "--report", "monitor-report.html", expect=1
        )

    def retraining(self) -> None:
        n = self.n
        n.title("The loop closes: the policy retrains, gates and canaries a candidate")
        # Live traffic starts once the job has snapshotted the labelled log it trains on (its
        # dataset), so the canary's requests are not in its training data.
        job = self.wait_job(
            lambda j: (
                j.get("trigger", {}).get("kind") == "alert"
                and (j.get("dataset") is not None or self._ended(j))
            ),
            "alert",
        )
        n.note(f"the agent took the drift alert: job {job['id']}")
        stop = threading.Event()
        counts: Counter[str] = Counter()
        feeder = threading.Thread(target=self._keep_calling, args=(stop, counts), daemon=True)
        feeder.start()
        try:
            job = self.wait_job(lambda j: j["id"] == job["id"] and self._ended(j), "its verdict")
        finally:
            stop.set()
            feeder.join()
        n.note(f"live traffic meanwhile: {describe(counts)}")
        n.mloop("jobs", "show", job["id"])
        if job["status"] != "succeeded":
            raise StoryFailed(f"the retraining job ended {job['status']}: {job.get('reason')}")
        n.mloop("endpoints", "history", ENDPOINT)

    def rogue(self) -> None:
        n = self.n
        n.title("A rogue candidate: trained on corrupted labels, stopped by the gate")
        n.mloop("data", "add", "churn-relabelled", "data/churn-2026-01-relabelled.csv")
        done = n.mloop(
            "train", "--data", "churn-relabelled@1", "--target", "churned", "--model", "logistic",
            "--seed", "3", "--experiment", "churn", "--register", "churn", "--json",
        )  # fmt: skip
        version = str(_json(done)["model"]).rpartition("@")[2]
        n.mloop("models", "promote", "churn", version, "--to", "production", "--gate", "loop",
                expect=1)  # fmt: skip
        n.note("blocked: registered with its verdict, never deployed")

    def failing_canary(self) -> None:
        n = self.n
        n.title("A canary that fails on live requests, rolled back by its guardrails")
        n.say("A teammate registers a model from a script. Its feature code looks up a speed tier")
        n.say("per internet service; their extract held only internet customers, live traffic not")
        print(SCRIPT.strip())
        version = _register_flawed(self.folder)
        n.note(f"registered {version}")
        n.mloop(
            "rollouts", "start", ENDPOINT, version, "--weight", "50", "--min-sample", "100",
            "--watch", "2m", "--guardrail", "error_rate <= 0.01",
        )  # fmt: skip
        rollout = self._rollout_of(version)
        stop = threading.Event()
        counts: Counter[str] = Counter()
        feeder = threading.Thread(target=self._keep_calling, args=(stop, counts), daemon=True)
        feeder.start()
        try:
            deadline = time.monotonic() + 150
            while time.monotonic() < deadline:
                done = n.mloop("rollouts", "check", rollout, "--json", expect=(0, 1), quiet=True)
                if _json(done)["status"] != "watching":
                    break
                time.sleep(0.25)
        finally:
            stop.set()
            feeder.join()
        n.note(f"live traffic meanwhile: {describe(counts)} (the canary's failures were answered")
        n.note("by the champion, so no customer saw an error)")
        n.mloop("rollouts", "show", rollout, expect=(0, 1))
        n.mloop("endpoints", "history", ENDPOINT)

    def _rollout_of(self, version: str) -> str:
        done = self.n.mloop("rollouts", "ls", "--endpoint", ENDPOINT, "--json", quiet=True)
        for rollout in _json(done):
            if rollout["candidate"] == version:
                return str(rollout["id"])
        raise StoryFailed(f"no rollout of {version} was started.")

    # --- waiting on the agent -----------------------------------------------------------------

    def _keep_calling(self, stop: threading.Event, counts: Counter[str]) -> None:
        assert self.server is not None
        rows = customer_rows(read_customers(self.data / "churn-2026-02.csv"))
        while not stop.is_set():
            counts.update(send(self.server.url, ENDPOINT, rows[:400], stop=stop))

    @staticmethod
    def _ended(job: dict[str, Any]) -> bool:
        return job["status"] in ("succeeded", "failed", "rejected", "interrupted")

    def wait_job(self, match: Any, what: str, timeout_s: float = 150.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            done = self.n.mloop("jobs", "ls", "--kind", "retrain", "--json", quiet=True)
            found = [j for j in _json(done) if match(j)]
            if found:
                return dict(found[0])
            if self.server is not None and self.server.process.poll() is not None:
                raise StoryFailed(f"the server and its agent stopped: {self.server.tail()}")
            time.sleep(0.2)
        raise StoryFailed(f"no retraining job reached {what} in {timeout_s:.0f} s.")

    # --- the whole story ----------------------------------------------------------------------

    def run(self) -> None:
        threading.Thread(target=_warm_up, name="mloop-demo-warm-up", daemon=True).start()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(exist_ok=True)
        with receiver(fail_first=1) as (webhook, messages):
            try:
                self.month_one()
                self.serve(webhook)
                self.n.title("Month 1 in production")
                self.traffic("churn-2026-01.csv", "Month 1")
                self.labels("churn-2026-01.csv")
                self.month_two()
                for message in messages:
                    self.n.note(f"on-call receiver got: {message}")
                self.retraining()
                self.rogue()
                self.failing_canary()
            finally:
                if self.server is not None:
                    code = self.server.stop()
                    self.n.note(f"mloop serve stopped with SIGTERM, exit {code}")
        self.epilogue()

    def epilogue(self) -> None:
        n = self.n
        n.title("Where everything is")
        n.mloop("audit", "--limit", "15")
        n.mloop("models", "lineage", "churn@production")
        n.note(f"the monitor's report: {self.folder / 'monitor-report.html'}")
        n.done(f"demo finished in {n.elapsed().strip()}; the workspace is {self.folder}")
