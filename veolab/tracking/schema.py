"""The MLflow schema of veolab: every name others read, written down once.

This is a contract for users' own ``mlflow.search_runs`` queries; docs/mlflow-schema.md repeats it.

One MLflow experiment per experiment ``name``. One parent run per ``veolab run`` (the sweep),
one child run per generation (``mlflow.parentRunId`` points at the sweep).

A generation run is named ``<short label> s<seed>`` (``dark·drone s42``: the swept values, see
``veolab.experiment.names``; a rerun adds `` rerun``); it starts when its request was submitted
and ends when its video was in hand, so MLflow's Duration is the generation's latency.
"""

from __future__ import annotations

# --- experiment tags -------------------------------------------------------------------------
# MLflow's own: which view the UI opens (the runs table; without it MLflow 3 opens its GenAI
# "Evaluations" view); set on every experiment veolab writes to
EXPERIMENT_KIND = "mlflow.experimentKind"
EXPERIMENT_KIND_RUNS = "custom_model_development"

# --- run tags --------------------------------------------------------------------------------
KIND = "veolab.kind"  # "sweep" on the parent, "generation" on a child
KIND_SWEEP = "sweep"
KIND_GENERATION = "generation"
KIND_RERUN = "rerun"  # the parent of the runs one `veolab rerun` made (issue 6)

# parent (sweep) tags
EXPERIMENT_FILE = "veolab.experiment_file"
EXPERIMENT_SHA256 = "veolab.experiment_sha256"
TEMPLATE_SHA256 = "veolab.template_sha256"  # also on every child
PROVIDER = "veolab.provider"  # also on every child
MODEL = "veolab.model"  # also on every child
GIT_COMMIT = "veolab.git_commit"
PID = "veolab.pid"  # process that owns a RUNNING run (stale ones are closed as KILLED)
HOST = "veolab.host"

# child (generation) tags
VARIANT = "veolab.variant"  # short stable id of everything except the seed
VARIANT_LABEL = "veolab.variant_label"  # readable: the swept values
VARIANT_NAME = "veolab.variant_name"  # a named variant from `variants:`, if any
PARENT_RUN_ID = "mlflow.parentRunId"  # MLflow's own tag: the child run's parent
REQUEST_HASH = "veolab.request_hash"  # sha256 of VideoRequest.canonical_json()
PROVIDER_REQUEST_ID = "veolab.provider_request_id"
# the prompt the host actually used, where it rewrote ours (fal.ai with auto_fix)
PROMPT_USED = "veolab.prompt_used"
SEED = "veolab.seed"
SOURCE = "veolab.source"  # "generated" (paid now) or "store" (re-logged from the local store)
TEMPLATE = "veolab.template"
CHECKS_PASSED_TAG = "veolab.checks_passed"  # "true" / "false"
FAILED_CHECKS = "veolab.failed_checks"  # comma-separated check names
ERROR_CLASS = "veolab.error_class"  # on FAILED children
ERROR_MESSAGE = "veolab.error_message"
RERUN_OF = "veolab.rerun_of"  # run id a rerun reissued (issue 6)
RATING_NOTE = "veolab.rating_note"  # human note (issue 6)
RERUN_SEED = "veolab.rerun_seed_changed"  # "true" when a rerun overrode the seed (issue 6)
RUN_NAME_SEED = " s"  # a generation run's name: <short label> s<seed>
RUN_NAME_RERUN = " rerun"  # ... and a rerun's: <short label> s<seed> rerun

# --- filters (docs/mlflow.md; tests/tracking/test_mlflow_filters.py runs each) ----------------
# generations only: every generation of every sweep, no reruns (their parents are kind=rerun)
FILTER_GENERATIONS = f"tags.`{KIND}` = '{KIND_GENERATION}' AND tags.`{RERUN_OF}` IS NULL"
# reruns only: the generations `veolab rerun` made
FILTER_RERUNS = f"tags.`{KIND}` = '{KIND_GENERATION}' AND tags.`{RERUN_OF}` IS NOT NULL"

# --- params (child) --------------------------------------------------------------------------
# every VideoRequest field under its own name: prompt, negative_prompt, aspect_ratio, duration,
# resolution, generate_audio, seed, image, last_frame, reference_images; plus:
PARAM_PROMPT_TRUNCATED = "prompt_truncated"  # "true" when the prompt param was cut
PARAM_PROVIDER = "provider"
PARAM_MODEL = "model"
PARAM_TEMPLATE = "template"
VAR_PREFIX = "var."  # each template variable as var.<name>
PARAM_MAX = 6000  # MLflow's limit on a param value (characters)

# --- metrics (child) -------------------------------------------------------------------------
LATENCY_QUEUED = "latency_queued_s"
LATENCY_GENERATING = "latency_generating_s"
LATENCY_DOWNLOADING = "latency_downloading_s"
LATENCY_TOTAL = "latency_s"
COST = "cost_usd"
REMAINING_CREDITS = "remaining_credits"
CHECK_PREFIX = "check."  # each check as check.<name>: 1 passed, 0 failed
CHECKS_PASSED = "checks_passed"  # 1 when every check passed
HUMAN_SCORE = "human_score"  # 1..5 (issue 6)
REPRO_SCORE = (
    "repro_score"  # 0..1 (issue 6); on a rerun, against its original (veolab.analysis.repro)
)
REPRO_PSNR = "repro_psnr_db"  # mean luma PSNR over sampled frames; 100 for identical frames
REPRO_PSNR_MIN = "repro_psnr_min_db"
REPRO_SSIM = "repro_ssim"  # mean luma SSIM over sampled frames
REPRO_SSIM_MIN = "repro_ssim_min"
REPRO_IDENTICAL = "repro_identical_frames"  # fraction of frames with equal decoded pixels
REPRO_AUDIO_CORR = "repro_audio_corr"  # Pearson correlation of the mono audio
REPRO_FRAMES = "repro_frames_compared"  # how many sampled frames PSNR/SSIM used
# plus every numeric analysis metric under its own name (brightness_mean, sharpness, ...)

# parent metrics
SWEEP_RUNS = "runs_total"
SWEEP_GENERATED = "runs_generated"
SWEEP_DONE = "runs_already_done"
SWEEP_CACHED = "runs_from_store"
SWEEP_FAILED = "runs_failed"
SWEEP_CHECK_FAILED = "runs_failed_checks"
SWEEP_SKIPPED = "runs_skipped"
SWEEP_SPEND = "spend_usd"
SWEEP_WALL = "wall_s"
SWEEP_WORKERS = "workers"  # the veolab run processes that shared the sweep run (issue 15)

# --- artifacts (child) -----------------------------------------------------------------------
ART_VIDEO = "video.mp4"
ART_THUMBNAILS = "thumbnails"  # thumbnails/<name>.jpg
ART_CONTACT_SHEET = "contact_sheet.jpg"
ART_PROMPT = "prompt.txt"
ART_REQUEST = "request.json"
ART_RESPONSE = "response.json"
ART_ANALYSIS = "analysis.json"
ART_INPUTS = "inputs"  # inputs/image.<ext>, inputs/last_frame.<ext>, inputs/reference_<i>.<ext>
# the stills again as MLflow images (mlflow.log_image, under images/), for the chart view's image
# grid: one key, step k = the k-th still in time order (0 the first frame, 1..8 the middles of
# eight equal slices, 9 the last frame); MLflow tags such a run mlflow.loggedImages=true. The
# part before "/" is the chart view's section: "video" comes before "Model metrics"
IMAGE_FRAMES = "video/frames"
# parent artifacts
ART_RESULTS = "results.json"  # mlflow.log_table: one row per generation of the sweep
ART_PLAN = "plan.json"  # mlflow.log_table: the plan's rows (the dataset input's, PLAN_COLUMNS)
ART_EXPERIMENT = "experiment.yaml"
ART_TEMPLATE_DIR = "templates"
ART_REPORT = "report"  # report/report.html and its media folder (veolab report, issue 6)
ART_REPRO = "repro.json"  # on a rerun child: the reproducibility metrics in full (issue 6)

# --- the Prompt Registry (tracking/prompts.py, issue 13) ---------------------------------------
# registered prompts are named veolab.<template path without .j2>; each version is tagged
PROMPT_SHA256 = "veolab.sha256"  # on a prompt version: the template_sha256 of its content
PROMPT_TEMPLATE = "veolab.template"  # on a prompt version: the template's path in prompts/
# on a generation and its sweep: the URI of the prompt version it rendered
# ("prompts:/veolab.quickstart/3"), beside MLflow's own mlflow.linkedPrompts
PROMPT = "veolab.prompt"

# --- the review (veolab review, issue 12) ------------------------------------------------------
# one run per `veolab review` invocation that saw votes, under the experiment, tagged
# veolab.kind=review; started and ended at shutdown (it covers every vote so far)
KIND_REVIEW = "review"
REVIEW_BY = "veolab.review_by"  # the grouping of its ranking: variant, var.<name>, model, ...
REVIEW_VOTES = "review_votes"  # metric: every vote on the experiment
REVIEW_REVIEWERS = "review_reviewers"  # metric: how many reviewers voted
REVIEW_AGREEMENT = "review_agreement"  # metric: percent agreement (0..1) on shared pairs
REVIEW_ALPHA = "review_krippendorff_alpha"  # metric: Krippendorff's alpha (nominal)
# per group, as <name>/<group slug> (the param group/<slug> holds the group's label)
BT_SCORE = "bt_score"  # Bradley-Terry log-strength, mean 0 over the ranked groups
BT_LO = "bt_lo"  # its 95% bootstrap interval
BT_HI = "bt_hi"
WIN_RATE = "win_rate"  # (wins + ties / 2) / comparisons
BOTH_BAD_RATE = "both_bad_rate"  # both_bad votes / votes that showed the group
REVIEW_GROUP_PARAM = "group"  # param group/<slug>: the group's label
ART_VOTES = "votes.csv"  # every vote: id, time, reviewer, pair, runs and groups as shown, ...
ART_RANKING = "ranking.json"  # the ranking as GET /api/ranking answers it
# on each generation run: its votes so far (latest value = every vote up to that review)
REVIEW_WINS = "review_wins"
REVIEW_LOSSES = "review_losses"
REVIEW_TIES = "review_ties"
REVIEW_BOTH_BAD = "review_both_bad"

# --- the plan as a dataset (mlflow.log_input on the sweep and each of its generations) -------
DATASET_CONTEXT = "plan"  # the input's mlflow.data.context tag
DATASET_SUFFIX = " plan"  # the dataset's name: <experiment name> plan
PLAN_COLUMNS = (
    "index",
    "variant",
    "variant_label",
    "variant_name",
    "vars",  # the template variables, as JSON
    "seed",
    "provider",  # the run's host and model (issue 14: grids cross them)
    "model",
    "request_hash",
    "prompt",  # rendered
    "template",
    "estimated_cost_usd",
)

# --- traces and feedback (tracking/traces.py, tracking/feedback.py, issue 13) -----------------
TRACE_ID = "veolab.trace_id"  # on a generation: the id of its trace (one per generation)
RATING_REVIEWER = "veolab.rating_reviewer"  # on a generation: who gave its latest rating
# metadata of the feedback veolab logs on traces (names: human_score, pairwise)
FEEDBACK_RATED_AT = "veolab.rated_at"  # the human_score metric's timestamp it mirrors
FEEDBACK_VOTE = "veolab.vote_id"  # the vote's id in the ledger
FEEDBACK_OTHER_RUN = "veolab.other_run_id"  # the generation it was compared with
FEEDBACK_SIDE = "veolab.side"  # where this generation was shown: left or right
