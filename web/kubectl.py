"""The command box: the common kubectl verbs, parsed here and sent straight to the API server.

Nothing is ever handed to a shell: the line is split with :mod:`shlex`, the verb picks a
function, and that function calls :class:`~cluster.api.apiserver.ApiServer` like kubectl's
own client would, printing what kubectl prints. Lines after the first are standard input
(``kubectl apply -f -`` followed by a pasted manifest).
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from cluster import clock
from cluster.api import printers, registry
from cluster.api.apiserver import ApiServer, Options
from cluster.api.errors import StatusError
from cluster.api.registry import Resource
from web import manifests

VERBS = (
    "get",
    "describe",
    "apply",
    "create",
    "scale",
    "set",
    "rollout",
    "delete",
    "cordon",
    "uncordon",
    "drain",
    "label",
    "expose",
)
# Flags that take a value (``--flag value`` or ``--flag=value``); the rest are switches.
VALUE_FLAGS = {
    "namespace": ("-n", "--namespace"),
    "output": ("-o", "--output"),
    "selector": ("-l", "--selector"),
    "filename": ("-f", "--filename"),
    "replicas": ("--replicas",),
    "image": ("--image",),
    "port": ("--port",),
    "target-port": ("--target-port",),
    "type": ("--type",),
    "name": ("--name",),
    "protocol": ("--protocol",),
    "to-revision": ("--to-revision",),
    "grace-period": ("--grace-period",),
    "timeout": ("--timeout",),
    "field-selector": ("--field-selector",),
}
SWITCHES = {
    "all-namespaces": ("-A", "--all-namespaces"),
    "overwrite": ("--overwrite",),
    "ignore-daemonsets": ("--ignore-daemonsets",),
    "delete-emptydir-data": ("--delete-emptydir-data",),
    "force": ("--force",),
    "now": ("--now",),
    "watch": ("-w", "--watch"),
    "show-labels": ("--show-labels",),
    "dry-run": ("--dry-run",),
}
REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"


class CommandError(Exception):
    """What kubectl prints to stderr before exiting 1."""


@dataclass
class Outcome:
    stdout: str = ""
    stderr: str = ""
    code: int = 0


@dataclass
class Args:
    positional: list[str] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)
    switches: set[str] = field(default_factory=set)
    stdin: str = ""

    @property
    def namespace(self) -> str:
        return self.values.get("namespace", "default")

    def int_value(self, name: str, default: int | None = None) -> int | None:
        raw = self.values.get(name)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise CommandError(
                f'error: invalid argument "{raw}" for "--{name}" flag: strconv.ParseInt: parsing "{raw}": invalid syntax'
            ) from None


def parse(tokens: list[str]) -> Args:
    args = Args()
    lookup = {alias: name for name, aliases in VALUE_FLAGS.items() for alias in aliases}
    switch_lookup = {alias: name for name, aliases in SWITCHES.items() for alias in aliases}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("-") and tok != "-":
            flag, eq, value = tok.partition("=")
            if flag in lookup:
                if not eq:
                    i += 1
                    if i >= len(tokens):
                        raise CommandError(f"error: flag needs an argument: {flag}")
                    value = tokens[i]
                args.values[lookup[flag]] = value
            elif flag in switch_lookup:
                if not eq or value.lower() in ("true", "1", "server", "client"):
                    args.switches.add(switch_lookup[flag])
            elif re.fullmatch(r"-n\S+", tok):
                args.values["namespace"] = tok[2:]
            else:
                raise CommandError(f"error: unknown flag: {flag}")
        else:
            args.positional.append(tok)
        i += 1
    return args


# ------------------------------------------------------------------------ resources


def _aliases(r: Resource) -> set[str]:
    names = {r.plural, r.kind.lower(), *r.short_names}
    if r.group:
        names |= {f"{n}.{r.group}" for n in (r.plural, r.kind.lower())}
    return names


def resource_named(word: str) -> Resource:
    w = word.lower()
    for r in registry.RESOURCES:
        if w in _aliases(r):
            return r
    raise CommandError(f'error: the server doesn\'t have a resource type "{word}"')


def kind_label(r: Resource) -> str:
    return manifests.kind_label(r)


def _targets(args: list[str], verb: str) -> list[tuple[Resource, str | None]]:
    """``TYPE NAME...``, ``TYPE/NAME...`` or ``TYPE`` (every object of a type), as kubectl's resource builder reads them."""
    if not args:
        raise CommandError(f"error: you must specify the type of resource to {verb}")
    if "/" in args[0]:
        out = []
        for a in args:
            kind, _, name = a.partition("/")
            if not name:
                raise CommandError(f"error: arguments in resource/name form must have a single resource and name: {a}")
            out.append((resource_named(kind), name))
        return out
    if args[0] == "all":
        return [(r, None) for r in registry.RESOURCES if "all" in r.categories]
    types = [resource_named(t) for t in args[0].split(",")]
    if len(args) == 1:
        return [(r, None) for r in types]
    if len(types) > 1:
        raise CommandError(
            "error: there is no need to specify a resource type as a separate argument when passing arguments in resource/name form"
        )
    return [(types[0], n) for n in args[1:]]


def _ns(r: Resource, args: Args) -> str | None:
    if not r.namespaced:
        return None
    return None if "all-namespaces" in args.switches else args.namespace


def _now(api: ApiServer) -> Any:
    return clock.sim_now(api.cluster)


def _table(rows: list[list[str]]) -> str:
    """kubectl's tabwriter: columns padded to the widest cell plus three spaces."""
    if not rows:
        return ""
    widths = [max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(max(len(r) for r in rows))]
    lines = []
    for r in rows:
        cells = [c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return "<none>"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(_cell(v) for v in value)
    return str(value)


def _status_text(err: StatusError) -> str:
    if err.reason == "Invalid":
        details = err.details or {}
        causes = details.get("causes") or []
        lines = [f"* {c['field']}: {c['message']}" if c.get("field") else f"* {c['message']}" for c in causes]
        return f'The {details.get("kind", "object")} "{details.get("name", "")}" is invalid: \n' + "\n".join(lines)
    return f"Error from server ({err.reason}): {err.message}"


# ------------------------------------------------------------------------ verbs


def do_get(api: ApiServer, args: Args) -> Outcome:
    targets = _targets(args.positional, "get")
    output = args.values.get("output", "")
    named = [t for t in targets if t[1] is not None]
    objects: list[tuple[Resource, dict[str, Any]]] = []
    err_lines: list[str] = []
    for r, name in targets:
        ns = _ns(r, args)
        if name is not None:
            try:
                objects.append((r, api.get(r, ns, name)))
            except StatusError as err:
                err_lines.append(_status_text(err))
            continue
        listing = api.list(r, ns, args.values.get("selector"), args.values.get("field-selector"))
        objects += [(r, {**o, "apiVersion": r.group_version, "kind": r.kind}) for o in listing["items"]]
    if output in ("yaml", "json"):
        objs = [o for _, o in objects]
        doc: Any = (
            objs[0]
            if len(objs) == 1 and named
            else {"apiVersion": "v1", "kind": "List", "items": objs, "metadata": {"resourceVersion": ""}}
        )
        doc = _strip_managed(doc)
        text = yaml.safe_dump(doc, sort_keys=False) if output == "yaml" else json.dumps(doc, indent=4) + "\n"
        return Outcome(text, "\n".join(err_lines), 1 if err_lines else 0)
    if output == "name":
        text = "".join(f"{kind_label(r)}/{o['metadata']['name']}\n" for r, o in objects)
        return Outcome(text, "\n".join(err_lines), 1 if err_lines else 0)
    if output not in ("", "wide"):
        raise CommandError(
            f'error: unable to match a printer suitable for the output format "{output}", allowed formats are: json,name,wide,yaml'
        )
    now = _now(api)
    chunks: list[str] = []
    multi = len({r.kind for r, _ in targets}) > 1
    for r in dict.fromkeys(r for r, _ in targets):
        mine = [o for rr, o in objects if rr == r]
        if not mine:
            continue
        cols = [c for c in printers.column_definitions(r.kind) if output == "wide" or c["priority"] == 0]
        idx = [i for i, c in enumerate(printers.column_definitions(r.kind)) if output == "wide" or c["priority"] == 0]
        header = [c["name"].upper() for c in cols]
        all_ns = "all-namespaces" in args.switches and r.namespaced
        if all_ns:
            header = ["NAMESPACE", *header]
        if "show-labels" in args.switches:
            header.append("LABELS")
        rows = [header]
        for o in mine:
            cells = printers.row_cells(r.kind, o, now)
            row = [_cell(cells[i]) if i < len(cells) else "" for i in idx]
            if multi:
                row[0] = f"{kind_label(r)}/{row[0]}"
            if all_ns:
                row = [o["metadata"].get("namespace", ""), *row]
            if "show-labels" in args.switches:
                row.append(printers.format_labels(o["metadata"].get("labels")))
            rows.append(row)
        chunks.append(_table(rows))
    if not chunks and not err_lines:
        where = (
            " in " + args.namespace + " namespace"
            if targets and targets[0][0].namespaced and "all-namespaces" not in args.switches
            else ""
        )
        return Outcome("", f"No resources found{where}.", 0)
    return Outcome("\n".join(chunks), "\n".join(err_lines), 1 if err_lines else 0)


def _strip_managed(doc: Any) -> Any:
    doc = copy.deepcopy(doc)
    for o in doc.get("items", [doc]) if isinstance(doc, dict) else []:
        (o.get("metadata") or {}).pop("managedFields", None)
    return doc


def _events_for(api: ApiServer, obj: dict[str, Any]) -> str:
    events_res = registry.by_kind("", "Event")
    assert events_res is not None
    meta = obj["metadata"]
    ns = meta.get("namespace") or "default"
    items = [
        e
        for e in api.list(events_res, ns)["items"]
        if (e.get("involvedObject") or {}).get("name") == meta["name"]
        and (e.get("involvedObject") or {}).get("kind") == obj.get("kind")
    ]
    if not items:
        return "Events:              <none>\n"
    now = _now(api)
    rows = [["  Type", "Reason", "Age", "From", "Message"], ["  ----", "------", "----", "----", "-------"]]
    for e in items[-20:]:
        when = e.get("lastTimestamp") or e.get("eventTime") or (e.get("metadata") or {}).get("creationTimestamp")
        age = printers._since(when, now) if when else "<unknown>"
        source = (e.get("source") or {}).get("component") or e.get("reportingComponent") or ""
        rows.append([f"  {e.get('type', '')}", e.get("reason", ""), age, source, e.get("message", "")])
    return "Events:\n" + _table(rows)


def _kv_block(title: str, mapping: dict[str, Any] | None) -> str:
    if not mapping:
        return f"{title + ':':<21}<none>\n"
    items = sorted(mapping.items())
    out = f"{title + ':':<21}{items[0][0]}={items[0][1]}\n"
    for k, v in items[1:]:
        out += f"{'':<21}{k}={v}\n"
    return out


def _line(label: str, value: Any) -> str:
    return f"{label + ':':<21}{_cell(value) if value not in (None, '') else '<none>'}\n"


def _conditions(status: dict[str, Any]) -> str:
    conds = status.get("conditions") or []
    if not conds:
        return ""
    rows = [["  Type", "Status"]] + [[f"  {c.get('type', '')}", c.get("status", "")] for c in conds]
    return "Conditions:\n" + _table(rows)


def describe_text(api: ApiServer, r: Resource, obj: dict[str, Any]) -> str:
    """A condensed ``kubectl describe``: identity, the kind's key facts, conditions and events."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    out = _line("Name", meta["name"])
    if r.namespaced:
        out += _line("Namespace", meta.get("namespace"))
    if r.kind == "Pod":
        out += _line("Node", f"{spec.get('nodeName')}/{status.get('hostIP', '')}" if spec.get("nodeName") else None)
    out += _kv_block("Labels", meta.get("labels"))
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if not k.startswith("kubeglass.io/")}
    out += _kv_block("Annotations", annotations)
    if r.kind == "Pod":
        owners = meta.get("ownerReferences") or []
        out += _line("Status", printers.pod_status(obj)[2])
        out += _line("IP", status.get("podIP"))
        out += _line("Controlled By", f"{owners[0]['kind']}/{owners[0]['name']}" if owners else None)
        out += "Containers:\n"
        states = {c["name"]: c for c in status.get("containerStatuses") or []}
        for c in spec.get("containers") or []:
            st = states.get(c["name"], {})
            state = next(iter((st.get("state") or {"waiting": {}}).items()))
            out += f"  {c['name']}:\n    Image:          {c.get('image')}\n"
            out += f"    State:          {state[0].capitalize()}\n"
            if state[1].get("reason"):
                out += f"      Reason:       {state[1]['reason']}\n"
            out += f"    Ready:          {str(bool(st.get('ready'))).lower()}\n"
            out += f"    Restart Count:  {st.get('restartCount', 0)}\n"
    elif r.kind in ("Deployment", "ReplicaSet", "StatefulSet"):
        out += _line("Selector", printers.format_label_selector(spec.get("selector")))
        out += (
            f"{'Replicas:':<21}{spec.get('replicas', 1)} desired | {status.get('updatedReplicas', 0)} updated | "
            f"{status.get('replicas', 0)} total | {status.get('availableReplicas', 0)} available | "
            f"{status.get('unavailableReplicas', 0)} unavailable\n"
        )
        if r.kind == "Deployment":
            out += _line("StrategyType", (spec.get("strategy") or {}).get("type", "RollingUpdate"))
        out += "Pod Template:\n"
        for c in ((spec.get("template") or {}).get("spec") or {}).get("containers") or []:
            out += f"  {c['name']}:\n    Image:        {c.get('image')}\n"
    elif r.kind == "Node":
        out += _line("Unschedulable", bool(spec.get("unschedulable")))
        taints = spec.get("taints") or []
        out += _line("Taints", ", ".join(f"{t['key']}:{t['effect']}" for t in taints) if taints else None)
        out += _line("PodCIDR", spec.get("podCIDR"))
        out += "Addresses:\n" + "".join(f"  {a['type']}:  {a['address']}\n" for a in status.get("addresses") or [])
    elif r.kind == "Service":
        out += _line("Selector", ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items())) or None)
        out += _line("Type", spec.get("type", "ClusterIP"))
        out += _line("IP", spec.get("clusterIP"))
        for p in spec.get("ports") or []:
            out += _line("Port", f"{p.get('name') or '<unset>'}  {p.get('port')}/{p.get('protocol', 'TCP')}")
            out += _line("TargetPort", f"{p.get('targetPort', p.get('port'))}/{p.get('protocol', 'TCP')}")
    else:
        rest = {k: v for k, v in obj.items() if k not in ("metadata", "apiVersion", "kind", "status")}
        if rest:
            out += yaml.safe_dump(rest, sort_keys=False)
    out += _conditions(status)
    out += _events_for(api, {**obj, "kind": r.kind})
    return out


def do_describe(api: ApiServer, args: Args) -> Outcome:
    texts, errs = [], []
    for r, name in _targets(args.positional, "describe"):
        ns = _ns(r, args)
        objs = [api.get(r, ns, name)] if name else api.list(r, ns, args.values.get("selector"))["items"]
        for o in objs:
            try:
                texts.append(describe_text(api, r, o))
            except StatusError as err:
                errs.append(_status_text(err))
    return Outcome("\n\n".join(texts), "\n".join(errs), 1 if errs else 0)


def do_apply(api: ApiServer, args: Args) -> Outcome:
    source = args.values.get("filename")
    if source is None:
        raise CommandError("error: must specify one of -f and -k")
    if source != "-":
        raise CommandError("error: only -f - is supported here: paste the manifest on the lines after the command")
    if not args.stdin.strip():
        raise CommandError("error: no objects passed to apply (paste the manifest on the lines after the command)")
    try:
        outcome = manifests.apply_text(api, args.stdin, args.namespace)
    except manifests.ManifestError as exc:
        raise CommandError(f"error: {exc.status.get('message')}") from exc
    errors = []
    for p in outcome.problems:
        err = StatusError(
            p.status["code"], p.status.get("reason", ""), p.status.get("message", ""), p.status.get("details")
        )
        errors.append(_status_text(err))
    return Outcome("".join(f"{line}\n" for line in outcome.applied), "\n".join(errors), 1 if errors else 0)


def _container_name(image: str) -> str:
    base = image.rsplit("/", 1)[-1].split("@")[0].split(":")[0]
    return re.sub(r"[^a-z0-9-]", "-", base.lower()).strip("-") or "container"


def do_create(api: ApiServer, args: Args) -> Outcome:
    pos = args.positional
    if args.values.get("filename"):
        if not args.stdin.strip():
            raise CommandError("error: no objects passed to create")
        lines = []
        for doc in manifests.parse(args.stdin):
            r = manifests._resource_for(doc.body)
            ns = (doc.body.get("metadata") or {}).get("namespace") or args.namespace
            created = api.create(r, ns if r.namespaced else None, doc.body).object
            lines.append(f"{kind_label(r)}/{created['metadata']['name']} created\n")
        return Outcome("".join(lines))
    if len(pos) >= 2 and pos[0] in ("deployment", "deploy"):
        name = pos[1]
        image = args.values.get("image")
        if not image:
            raise CommandError('error: required flag(s) "image" not set')
        replicas = args.int_value("replicas", 1)
        container: dict[str, Any] = {"name": _container_name(image), "image": image, "resources": {}}
        port = args.int_value("port")
        if port is not None:
            container["ports"] = [{"containerPort": port}]
        body = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "strategy": {},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}},
            },
        }
        r = registry.by_kind("apps", "Deployment")
        assert r is not None
        api.create(r, args.namespace, body)
        return Outcome(f"deployment.apps/{name} created\n")
    if len(pos) >= 2 and pos[0] in ("namespace", "ns"):
        r = registry.by_kind("", "Namespace")
        assert r is not None
        api.create(r, None, {"metadata": {"name": pos[1]}})
        return Outcome(f"namespace/{pos[1]} created\n")
    raise CommandError(
        "error: supported here: create deployment NAME --image=IMAGE [--replicas=N] [--port=N], create namespace NAME, create -f -"
    )


def do_scale(api: ApiServer, args: Args) -> Outcome:
    replicas = args.int_value("replicas")
    if replicas is None:
        raise CommandError('error: required flag(s) "replicas" not set')
    lines = []
    for r, name in _targets(args.positional, "scale"):
        if "scale" not in r.subresources or name is None:
            raise CommandError(f"error: cannot scale {r.plural}; name a deployment, replicaset or statefulset")

        def change(scale: dict[str, Any]) -> dict[str, Any]:
            return {**scale, "spec": {"replicas": replicas}}

        api.update_scale(r, args.namespace, name, change)
        lines.append(f"{kind_label(r)}/{name} scaled\n")
    return Outcome("".join(lines))


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("kind") == "Pod" or "template" not in (obj.get("spec") or {}):
        return obj.setdefault("spec", {})
    return obj["spec"]["template"].setdefault("spec", {})


def do_set(api: ApiServer, args: Args) -> Outcome:
    if not args.positional or args.positional[0] != "image":
        raise CommandError("error: supported here: set image TYPE/NAME CONTAINER=IMAGE ...")
    rest = args.positional[1:]
    pairs = [a for a in rest if "=" in a]
    refs = [a for a in rest if "=" not in a]
    if not pairs:
        raise CommandError("error: at least one image update is required")
    lines = []
    for r, name in _targets(refs, "set image"):
        if name is None:
            raise CommandError("error: name the object, e.g. deployment/web")
        obj = api.get(r, args.namespace, name)
        obj = {**obj, "kind": r.kind, "apiVersion": r.group_version}
        containers = _pod_spec(obj).get("containers") or []
        for pair in pairs:
            cname, _, image = pair.partition("=")
            hits = [c for c in containers if cname in ("*", c["name"])]
            if not hits:
                raise CommandError(f'error: unable to find container named "{cname}"')
            for c in hits:
                c["image"] = image
        api.update(r, args.namespace, name, obj)
        lines.append(f"{kind_label(r)}/{name} image updated\n")
    return Outcome("".join(lines))


def _owned_replicasets(api: ApiServer, deployment: dict[str, Any]) -> list[dict[str, Any]]:
    rs = registry.by_kind("apps", "ReplicaSet")
    assert rs is not None
    uid = deployment["metadata"].get("uid")
    items = api.list(rs, deployment["metadata"].get("namespace"))["items"]
    mine = [i for i in items if any(o.get("uid") == uid for o in i["metadata"].get("ownerReferences") or [])]
    return sorted(mine, key=lambda i: int((i["metadata"].get("annotations") or {}).get(REVISION, "0") or 0))


def rollout_status(name: str, d: dict[str, Any]) -> tuple[str, bool]:
    """kubectl's DeploymentStatusViewer: the message, and whether the rollout is complete."""
    spec, status, meta = d.get("spec") or {}, d.get("status") or {}, d["metadata"]
    if meta.get("generation", 0) > status.get("observedGeneration", 0):
        return "Waiting for deployment spec update to be observed...\n", False
    for c in status.get("conditions") or []:
        if c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded":
            return f'error: deployment "{name}" exceeded its progress deadline\n', False
    want = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    if updated < want:
        return (
            f'Waiting for deployment "{name}" rollout to finish: {updated} out of {want} new replicas have been updated...\n',
            False,
        )
    if status.get("replicas", 0) > updated:
        old = status.get("replicas", 0) - updated
        return (
            f'Waiting for deployment "{name}" rollout to finish: {old} old replicas are pending termination...\n',
            False,
        )
    available = status.get("availableReplicas", 0)
    if available < updated:
        return (
            f'Waiting for deployment "{name}" rollout to finish: {available} of {updated} updated replicas are available...\n',
            False,
        )
    return f'deployment "{name}" successfully rolled out\n', True


def do_rollout(api: ApiServer, args: Args) -> Outcome:
    if not args.positional:
        raise CommandError("error: supported here: rollout status|history|undo deployment/NAME")
    action, refs = args.positional[0], args.positional[1:]
    targets = _targets(refs, f"rollout {action}")
    out = []
    for r, name in targets:
        if r.kind != "Deployment" or name is None:
            raise CommandError(f"error: rollout {action} is supported here for deployments (deployment/NAME)")
        d = api.get(r, args.namespace, name)
        if action == "status":
            text, _ = rollout_status(name, d)
            out.append(text)
        elif action == "history":
            rows = [["REVISION", "CHANGE-CAUSE"]]
            for rs in _owned_replicasets(api, d):
                ann = rs["metadata"].get("annotations") or {}
                rows.append([ann.get(REVISION, "0"), ann.get(CHANGE_CAUSE, "<none>")])
            out.append(f"deployment.apps/{name} \n" + _table(rows))
        elif action == "undo":
            history = _owned_replicasets(api, d)
            want = args.int_value("to-revision", 0) or 0
            current = (d["metadata"].get("annotations") or {}).get(REVISION)
            if want:
                match = [rs for rs in history if (rs["metadata"].get("annotations") or {}).get(REVISION) == str(want)]
                if not match:
                    raise CommandError(f"error: unable to find specified revision {want} in history")
                target = match[0]
            else:
                older = [rs for rs in history if (rs["metadata"].get("annotations") or {}).get(REVISION) != current]
                if not older:
                    raise CommandError(f'error: no rollout history found for deployment "{name}"')
                target = older[-1]
            template = copy.deepcopy(target["spec"]["template"])
            (template.get("metadata") or {}).get("labels", {}).pop("pod-template-hash", None)
            if template == d["spec"].get("template"):
                out.append(
                    f"deployment.apps/{name} skipped rollback (current template already matches revision {want or 'previous'})\n"
                )
                continue
            d["spec"]["template"] = template
            api.update(r, args.namespace, name, {**d, "kind": "Deployment", "apiVersion": "apps/v1"})
            out.append(f"deployment.apps/{name} rolled back\n")
        else:
            raise CommandError(f"error: unknown rollout command {action!r}; supported here: status, history, undo")
    return Outcome("".join(out))


def do_delete(api: ApiServer, args: Args) -> Outcome:
    grace = args.int_value("grace-period")
    if "now" in args.switches:
        grace = 1
    out, errs = [], []
    for r, name in _targets(args.positional, "delete"):
        if name is None:
            raise CommandError("error: resource(s) were provided, but no name was specified")
        try:
            api.delete(
                r, _ns(r, args), name, Options(component="kubectl"), propagation="Background", grace_period=grace
            )
            out.append(f'{kind_label(r)} "{name}" deleted\n')
        except StatusError as err:
            errs.append(_status_text(err))
    return Outcome("".join(out), "\n".join(errs), 1 if errs else 0)


def _set_unschedulable(api: ApiServer, node: str, value: bool) -> str:
    r = registry.by_kind("", "Node")
    assert r is not None
    obj = api.get(r, None, node)
    word = "cordoned" if value else "uncordoned"
    if bool((obj.get("spec") or {}).get("unschedulable")) == value:
        return f"node/{node} already {word}\n"
    patch = {"spec": {"unschedulable": True if value else None}}
    api.patch(r, None, node, "application/strategic-merge-patch+json", patch, Options(component="kubectl"))
    return f"node/{node} {word}\n"


def do_cordon(api: ApiServer, args: Args, value: bool = True) -> Outcome:
    if not args.positional:
        raise CommandError("error: USAGE: cordon NODE")
    return Outcome("".join(_set_unschedulable(api, n, value) for n in args.positional))


def do_uncordon(api: ApiServer, args: Args) -> Outcome:
    return do_cordon(api, args, False)


def do_drain(api: ApiServer, args: Args) -> Outcome:
    if len(args.positional) != 1:
        raise CommandError("error: USAGE: drain NODE [--ignore-daemonsets] [--delete-emptydir-data] [--force]")
    node = args.positional[0]
    pods_res = registry.by_kind("", "Pod")
    assert pods_res is not None
    out = _set_unschedulable(api, node, True)
    pods = api.list(pods_res, None, field_selector=f"spec.nodeName={node}")["items"]
    daemon, unmanaged, emptydir, evict = [], [], [], []
    for p in pods:
        meta = p["metadata"]
        key = f"{meta.get('namespace')}/{meta['name']}"
        if (meta.get("annotations") or {}).get("kubernetes.io/config.mirror"):
            continue
        if (p.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            evict.append(p)
            continue
        owners = meta.get("ownerReferences") or []
        if any(o.get("kind") == "DaemonSet" for o in owners):
            daemon.append(key)
            continue
        if not owners and "force" not in args.switches:
            unmanaged.append(key)
        if (
            any("emptyDir" in v for v in (p.get("spec") or {}).get("volumes") or [])
            and "delete-emptydir-data" not in args.switches
        ):
            emptydir.append(key)
        evict.append(p)
    problems = []
    if daemon and "ignore-daemonsets" not in args.switches:
        problems.append(
            f"cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): {', '.join(daemon)}"
        )
    if unmanaged:
        problems.append(
            f"cannot delete Pods that declare no controller (use --force to override): {', '.join(unmanaged)}"
        )
    if emptydir:
        problems.append(
            f"cannot delete Pods with local storage (use --delete-emptydir-data to override): {', '.join(emptydir)}"
        )
    if problems:
        return Outcome(
            out,
            'error: unable to drain node "'
            + node
            + '" due to error: '
            + ", ".join(problems)
            + ", continuing command...\nThere are pending nodes to be drained:\n "
            + node
            + "\n",
            1,
        )
    if daemon:
        out += f"Warning: ignoring DaemonSet-managed Pods: {', '.join(daemon)}\n"
    for p in evict:
        meta = p["metadata"]
        out += f"evicting pod {meta.get('namespace')}/{meta['name']}\n"
    for p in evict:
        meta = p["metadata"]
        try:
            api.evict(
                meta.get("namespace"),
                meta["name"],
                {
                    "apiVersion": "policy/v1",
                    "kind": "Eviction",
                    "metadata": {"name": meta["name"], "namespace": meta.get("namespace")},
                },
                Options(component="kubectl"),
            )
        except StatusError as err:
            if err.code != 404:
                raise
        out += f"pod/{meta['name']} evicted\n"
    out += f"node/{node} drained\n"
    return Outcome(out)


def do_label(api: ApiServer, args: Args) -> Outcome:
    pairs = [a for a in args.positional[1:] if "=" in a or a.endswith("-")]
    refs = [args.positional[0], *[a for a in args.positional[1:] if a not in pairs]] if args.positional else []
    if not pairs:
        raise CommandError("error: at least one label update is required")
    out = []
    for r, name in _targets(refs, "label"):
        if name is None:
            raise CommandError("error: resource(s) were provided, but no name was specified")
        ns = _ns(r, args)
        obj = api.get(r, ns, name)
        labels = dict(obj["metadata"].get("labels") or {})
        patch: dict[str, Any] = {}
        for pair in pairs:
            if pair.endswith("-") and "=" not in pair:
                key = pair[:-1]
                if key in labels:
                    patch[key] = None
                continue
            key, _, value = pair.partition("=")
            if key in labels and labels[key] != value and "overwrite" not in args.switches:
                raise CommandError(f"error: '{key}' already has a value ({labels[key]}), and --overwrite is false")
            if labels.get(key) != value:
                patch[key] = value
        if patch:
            api.patch(
                r,
                ns,
                name,
                "application/merge-patch+json",
                {"metadata": {"labels": patch}},
                Options(component="kubectl"),
            )
            out.append(f"{kind_label(r)}/{name} labeled\n")
        else:
            out.append(f"{kind_label(r)}/{name} not labeled\n")
    return Outcome("".join(out))


def do_expose(api: ApiServer, args: Args) -> Outcome:
    targets = _targets(args.positional, "expose")
    if len(targets) != 1 or targets[0][1] is None:
        raise CommandError("error: expose one object, e.g. expose deployment web --port=80")
    r, name = targets[0]
    assert name is not None
    obj = api.get(r, args.namespace, name)
    spec = obj.get("spec") or {}
    if r.kind == "Pod":
        selector = obj["metadata"].get("labels") or {}
    elif r.kind == "Service":
        selector = spec.get("selector") or {}
    elif "selector" in spec:
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
    else:
        raise CommandError(f"error: cannot expose a {r.kind}")
    if not selector:
        raise CommandError(
            f"error: couldn't retrieve selectors via --selector flag or introspection: the {r.kind} has no labels to select"
        )
    port = args.int_value("port")
    ports = [p for c in _pod_spec({**obj, "kind": r.kind}).get("containers") or [] for p in c.get("ports") or []]
    if port is None:
        if not ports:
            raise CommandError("error: couldn't find port via --port flag or introspection")
        port = int(ports[0]["containerPort"])
    target: Any = args.values.get("target-port")
    if target is None:
        target = port
    elif target.isdigit():
        target = int(target)
    svc_name = args.values.get("name", name)
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": svc_name, "labels": obj["metadata"].get("labels") or {}},
        "spec": {
            "selector": selector,
            "ports": [{"port": port, "protocol": args.values.get("protocol", "TCP"), "targetPort": target}],
        },
    }
    if args.values.get("type"):
        body["spec"]["type"] = args.values["type"]
    svc = registry.by_kind("", "Service")
    assert svc is not None
    api.create(svc, args.namespace, body)
    return Outcome(f"service/{svc_name} exposed\n")


HANDLERS: dict[str, Callable[[ApiServer, Args], Outcome]] = {
    "get": do_get,
    "describe": do_describe,
    "apply": do_apply,
    "create": do_create,
    "scale": do_scale,
    "set": do_set,
    "rollout": do_rollout,
    "delete": do_delete,
    "cordon": do_cordon,
    "uncordon": do_uncordon,
    "drain": do_drain,
    "label": do_label,
    "expose": do_expose,
}

USAGE = (
    "Supported here (no shell is ever run): "
    + ", ".join(VERBS)
    + ".\nExamples:\n  kubectl get pods -o wide\n  kubectl scale deployment web --replicas=5\n"
    "  kubectl set image deployment/web web=nginx:1.27\n  kubectl apply -f -   (paste the manifest on the next lines)\n"
)


def run(api: ApiServer, text: str) -> Outcome:
    """Run one command line (plus standard input on the following lines) against the API server."""
    first, _, stdin = text.strip("\n").partition("\n")
    try:
        tokens = shlex.split(first)
    except ValueError as exc:
        return Outcome("", f"error: {exc}", 1)
    if tokens and tokens[0] == "kubectl":
        tokens = tokens[1:]
    if not tokens or tokens[0] in ("help", "-h", "--help"):
        return Outcome(USAGE)
    verb, rest = tokens[0], tokens[1:]
    handler = HANDLERS.get(verb)
    if handler is None:
        return Outcome("", f'error: unknown command "{verb}" for "kubectl"\n\n{USAGE}', 1)
    try:
        args = parse(rest)
        args.stdin = stdin
        return handler(api, args)
    except CommandError as exc:
        return Outcome("", str(exc), 1)
    except manifests.ManifestError as exc:
        return Outcome("", f"error: {exc.status.get('message')}", 1)
    except StatusError as err:
        return Outcome("", _status_text(err), 1)
