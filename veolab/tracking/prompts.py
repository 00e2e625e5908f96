"""The MLflow Prompt Registry: every template as it was used, one version per content.

    versions = register_templates(tracker, [(spec.template, spec.template_files), ...])
    link_run(tracker, run_id, versions[spec.template_sha256])

A template is registered under a stable name (:func:`prompt_name`: ``veolab.`` and the
template's path without ``.j2``, so ``prompts/ads/market.j2`` is ``veolab.ads.market``) with
its text *resolved as it was used*: its own source, then the source of every template it
includes or imports, each after a Jinja comment naming it (:func:`resolved_text`). The version
carries the tag ``veolab.sha256``, the same hash as the runs' ``veolab.template_sha256``, and
registering the same content again reuses that version: a version number means one content.

Every generation run is linked to its version (MLflow's ``mlflow.linkedPrompts`` tag, which the
UI shows on the run and on the prompt version, written with the run's tags: :func:`link_tags`)
and tagged ``veolab.prompt`` with the version's URI, so every run of a version is one filter away:
``tags.`veolab.prompt` = 'prompts:/veolab.quickstart/3'``.

The registry is a convenience for reading, not custody: a store that cannot hold prompts (an
old server, a file store) gives a warning and the sweep goes on without links.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

from veolab.tracking import schema as S

NAME_PREFIX = "veolab."
_NOT_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
_link_lock = threading.Lock()  # MLflow: link_prompt_version_to_run is not thread-safe
LINKED_PROMPTS = "mlflow.linkedPrompts"  # MLflow's own run tag


def prompt_name(template: str, experiment: str = "") -> str:
    """The registry name of a template (``quickstart.j2`` -> ``veolab.quickstart``).

    >>> prompt_name("ads/market v2.j2")
    'veolab.ads.market-v2'
    >>> prompt_name("<inline prompt>", "market-ab")
    'veolab.market-ab.inline'
    """
    if template.startswith("<"):  # an inline prompt belongs to its experiment
        stem = f"{experiment or 'experiment'}.inline"
    else:
        stem = template[:-3] if template.endswith(".j2") else template
        stem = stem.replace("/", ".")
    return NAME_PREFIX + _NOT_NAME.sub("-", stem).strip("-.")


def resolved_text(template: str, files: dict[str, str]) -> str:
    """The template's source, then each template it includes or imports (sorted by name).

    >>> print(resolved_text("a.j2", {"a.j2": "{% include 'b.j2' %} fox", "b.j2": "red"}))
    {% include 'b.j2' %} fox
    {# ---- b.j2 ---- #}
    red
    """
    main = files.get(template, "")
    parts = [main]
    for name in sorted(n for n in files if n != template):
        parts.append(f"{{# ---- {name} ---- #}}\n{files[name]}")
    return "\n".join(parts)


def register_templates(
    tracker: Any,
    templates: Iterable[tuple[str, str, dict[str, str]]],
    experiment: str = "",
    warnings: list[str] | None = None,
    experiment_id: str | None = None,
) -> dict[str, Any]:
    """Register each ``(template, sha256, files)`` once; return ``{sha256: PromptVersion}``.

    An existing version with the same ``veolab.sha256`` tag is reused. With ``experiment_id``
    the prompt is also listed on that experiment's own Prompts page (MLflow's prompt tag
    ``_mlflow_experiment_ids``; MLflow itself only ever adds the active experiment, "Default"
    for veolab). Failures of the registry become a line in ``warnings`` (when given) and leave
    that template out of the result.
    """
    out: dict[str, Any] = {}
    for template, sha, files in templates:
        if sha in out or not sha:
            continue
        name = prompt_name(template, experiment)
        try:
            out[sha] = _version_for(tracker.client, name, sha, template, files)
            if experiment_id is not None:
                _list_on_experiment(tracker.client, name, experiment_id)
        except Exception as exc:  # the registry is optional: any store error is a warning
            if warnings is not None:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                warnings.append(f"prompt registry: {name} not registered ({first[:200]})")
    return out


def _version_for(client: Any, name: str, sha: str, template: str, files: dict[str, str]) -> Any:
    found = _existing(client, name, sha)
    if found is not None:
        return found
    client.register_prompt(
        name,
        resolved_text(template, files),
        commit_message=f"veolab: {template} (sha256 {sha[:12]})",
        tags={S.PROMPT_SHA256: sha, S.PROMPT_TEMPLATE: template},
    )
    # two processes may have registered the same content at once: both use the oldest
    return _existing(client, name, sha)


def _list_on_experiment(client: Any, name: str, experiment_id: str) -> None:
    """Add ``experiment_id`` to the prompt's ``_mlflow_experiment_ids`` tag (",1,5," form)."""
    from mlflow.prompt.constants import PROMPT_EXPERIMENT_IDS_TAG_KEY

    with _link_lock:
        prompt = client.get_prompt(name)
        tag = (prompt.tags or {}).get(PROMPT_EXPERIMENT_IDS_TAG_KEY, "")
        ids = [i for i in tag.split(",") if i]
        if experiment_id not in ids:
            value = "," + ",".join([*ids, experiment_id]) + ","
            client.set_prompt_tag(name, PROMPT_EXPERIMENT_IDS_TAG_KEY, value)


def version_of(tracker: Any, uri: str | None) -> Any:
    """The PromptVersion a ``prompts:/name/version`` URI names (None for none or unknown)."""
    if not uri or not uri.startswith("prompts:/"):
        return None
    name, _, version = uri.removeprefix("prompts:/").rpartition("/")
    try:
        return tracker.client.get_prompt_version(name, version)
    except Exception:  # noqa: BLE001 - a version deleted since: nothing to link to
        return None


def _existing(client: Any, name: str, sha: str) -> Any:
    """The lowest version of ``name`` whose content hash is ``sha``, or None."""
    if client.get_prompt(name) is None:
        return None
    best = None
    token = None
    while True:
        page = client.search_prompt_versions(name, max_results=100, page_token=token)
        for v in page:
            if (v.tags or {}).get(S.PROMPT_SHA256) == sha and (
                best is None or int(v.version) < int(best.version)
            ):
                best = v
        token = getattr(page, "token", None)
        if not token:
            return best


def link_tags(version: Any) -> dict[str, str]:
    """The tags that link a run to ``version`` (MLflow's ``mlflow.linkedPrompts``, as
    ``link_prompt_version_to_run`` writes it, and ``veolab.prompt``), for a run being created:
    no extra call per run. ``{}`` for None."""
    if version is None:
        return {}
    from mlflow.tracing.utils.prompt import update_linked_prompts_tag

    return {LINKED_PROMPTS: update_linked_prompts_tag(None, [version]), S.PROMPT: version.uri}


def link_run(tracker: Any, run_id: str, version: Any) -> None:
    """Link a run to a prompt version and tag it with the version's URI."""
    from veolab.tracking.traces import bind_store

    # MLflow links through the global tracking store, not the client's: point it at ours
    bind_store(tracker.uri)
    with _link_lock:
        tracker.client.link_prompt_version_to_run(run_id, version)
    tracker.client.set_tag(run_id, S.PROMPT, version.uri)
