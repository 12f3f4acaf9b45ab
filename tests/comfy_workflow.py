"""ComfyUI workflows in the web UI's format (what the template browser and a dropped file load) read
back as the API prompt the web UI would queue, so tests can compare them with the API-format file."""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from segfuse.plugin.comfyui import schema

PLUGIN = Path(schema.__file__).parent
UI_EXAMPLE = PLUGIN / "example_workflows" / "segfuse_fix.json"
API_EXAMPLE = PLUGIN / "api_workflows" / "segfuse_fix_api.json"


def widget_values(node: dict) -> dict[str, Any]:
    """A UI node's widget values by name (the web UI stores them by position, in widget order)."""
    names = [slot["name"] for slot in node.get("inputs", []) if "widget" in slot]
    values = node.get("widgets_values") or []
    assert len(names) == len(values), f"node {node['id']} ({node['type']}): widgets {names} but values {values}"
    return dict(zip(names, values, strict=True))


def api_prompt(workflow: dict, declared: Callable[[str], Collection[str]]) -> dict[str, dict]:
    """The prompt the web UI queues for ``workflow``: each node's links and the widget values of the
    inputs its class declares (``declared(class_type)``; the upload buttons are widgets only)."""
    links = {link[0]: link for link in workflow["links"]}  # id, from node, from slot, to node, to slot, type
    prompt = {}
    for node in workflow["nodes"]:
        assert node.get("mode", 0) == 0, f"node {node['id']} is muted or bypassed"
        names = declared(node["type"])
        inputs: dict[str, Any] = {k: v for k, v in widget_values(node).items() if k in names}
        for slot in node.get("inputs", []):
            if slot.get("link") is not None:
                _, source, source_slot, *_ = links[slot["link"]]
                inputs[slot["name"]] = [str(source), source_slot]
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt


def differences(prompt: dict, api: dict, default: Callable[[str, str], Any]) -> list[str]:
    """How ``prompt`` (every widget set) differs from ``api`` (widgets at their default may be left
    out; ``_meta`` titles ignored): an empty list when they queue the same work."""
    found = []
    if set(prompt) != set(api):
        found.append(f"nodes {sorted(prompt)} vs {sorted(api)}")
    for key in sorted(set(prompt) & set(api)):
        got, want = prompt[key], api[key]
        if got["class_type"] != want["class_type"]:
            found.append(f"node {key}: {got['class_type']} vs {want['class_type']}")
            continue
        for name in sorted(set(got["inputs"]) | set(want["inputs"])):
            if name not in got["inputs"]:
                found.append(f"node {key}: '{name}' missing")
                continue
            expected = want["inputs"][name] if name in want["inputs"] else default(got["class_type"], name)
            if got["inputs"][name] != expected:
                found.append(f"node {key}: '{name}' is {got['inputs'][name]!r}, expected {expected!r}")
    return found
