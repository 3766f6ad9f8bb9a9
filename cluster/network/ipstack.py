"""Steps in a node's root namespace IP layer: netfilter hooks, routing, conntrack, calico policy.

The order of events is the kernel's: conntrack and ``nat PREROUTING`` (DNAT, or
undoing SNAT for a reply), the routing decision, ``filter FORWARD`` (calico's
``cali-fw-*``/``cali-tw-*`` policy chains first), ``nat POSTROUTING`` (MASQUERADE,
or undoing DNAT for a reply), confirmation of the conntrack entry, then the
output device.  Locally generated packets take routing, ``nat OUTPUT``,
rerouting, ``filter OUTPUT`` and ``POSTROUTING``; local deliveries take ``filter INPUT``.
"""

from __future__ import annotations

from cluster.network import addressing as addr
from cluster.network import conntrack, devices, netfilter, netpol
from cluster.network.index import NodeInfo
from cluster.network.kube_proxy import probability
from cluster.network.neighbours import node_fdb, node_neighbours
from cluster.network.packet import Frame
from cluster.network.routes import Route, is_loopback, node_routes
from cluster.network.trace import Stop, Trace


class NodeStack(Trace):
    def start_node(self, info: NodeInfo, frame: Frame, *, reply: bool = False) -> None:
        node = info.name
        if self.is_local(node, frame.ip_dst):
            route, how = None, f"local {frame.ip_dst} (the local table)"
            frame.ip_src = frame.ip_src or ("127.0.0.1" if is_loopback(frame.ip_dst) else frame.ip_dst)
        else:
            route = node_routes(self.snap, node).lookup(frame.ip_dst)
            how = route.text() if route else "none"
            if not frame.ip_src:
                frame.ip_src = (route.src or self.dev_address(info, str(route.dev))) if route else info.ip
        if frame.icmp is not None:
            why = (f"the kernel on {node} answers the rejected packet with ICMP {frame.icmp['text']} "
                   f"{frame.ip_src} → {frame.ip_dst}; route: {how}")  # fmt: skip
        else:
            what = "the reply" if reply else f"a {frame.l4_proto.upper()} packet"
            why = (f"a process on {node} (host network) sends {what} {frame.ip_src}:{frame.sport} → "
                   f"{frame.ip_dst}:{frame.dport}; route: {how}")  # fmt: skip
        self.hop(
            frame,
            devices.node_ns(node),
            node=node,
            netns="root",
            device=None,
            action="send",
            why=why,
            route=route.as_dict() if route else None,
        )
        self.local_out(info, frame)

    def local_out(self, info: NodeInfo, frame: Frame) -> None:
        """A locally generated packet: nat OUTPUT, reroute, filter OUTPUT, POSTROUTING, out."""
        node = info.name
        tables = netfilter.node_tables(self.snap, node)
        ctx = self.nf_context(node)
        state, entry = self.ct_state(node, frame)
        orig = frame.tuple4()
        mark = 0
        if state == "NEW" and frame.icmp is None:
            v = netfilter.run(tables, "nat", "OUTPUT", self.nf_packet(frame, state, None, None), ctx)
            mark = v.mark
            if v.dnat:
                self.apply_dnat(info, frame, v, hook="OUTPUT")
        if self.is_local(node, frame.ip_dst):
            self.hop(
                frame,
                devices.node_dev(node, "lo"),
                node=node,
                netns="root",
                device="lo",
                action="loopback",
                why=f"{frame.ip_dst} is a local address of {node}: the packet loops back through lo",
            )
            self.local_in(info, "lo", frame, state, entry, orig, mark)
            return
        route = node_routes(self.snap, node).lookup(frame.ip_dst)
        if route is None or route.type == "blackhole":
            self.drop(
                frame,
                devices.node_ns(node),
                node=node,
                netns="root",
                device=None,
                why=f"no route to {frame.ip_dst}" + (f" ({route.text()})" if route else ""),
            )
        assert route is not None
        out_dev = str(route.dev)
        v = netfilter.run(tables, "filter", "OUTPUT", self.nf_packet(frame, state, None, out_dev, mark), ctx)
        self.hop(
            frame,
            devices.node_ns(node),
            node=node,
            netns="root",
            device=None,
            action="route",
            why=f"output routing{' (again, after DNAT)' if orig[1] != frame.ip_dst else ''}: {route.text()}",
            route=route.as_dict(),
            chain_trace=[t for t in v.trace if t["matched"]],
        )
        if state == "NEW":
            self.policy_to_workload(info, out_dev, frame)
        self.filter_verdict(info, frame, v, "OUTPUT", in_dev=None)
        self.postrouting(info, frame, state, entry, orig, route, out_dev, mark, tables, ctx)
        self.ip_output(info, route, frame)

    def ct_state(self, node: str, frame: Frame) -> tuple[str, conntrack.Entry | None]:
        if frame.icmp is not None:
            return "RELATED", None
        found = self.ct.find(node, frame.proto, frame.tuple4())
        if found is None:
            return "NEW", None
        entry, direction = found
        return ("ESTABLISHED" if direction == "reply" or entry.replied else "NEW"), (
            entry if direction == "reply" else None
        )

    def ip_rcv(self, info: NodeInfo, in_dev: str, frame: Frame) -> None:
        """A packet entering the node's root namespace IP stack from ``in_dev``."""
        node = info.name
        frame.eth_src = frame.eth_dst = None  # the receiving device has consumed the L2 header
        tables = netfilter.node_tables(self.snap, node)
        ctx = self.nf_context(node)
        state, entry = self.ct_state(node, frame)
        orig = frame.tuple4()
        mark = 0
        if entry is not None and entry.snat:
            # Undo SNAT before routing, so the reply is routed towards the real client.
            before = f"{frame.ip_dst}:{frame.dport}"
            frame.ip_dst, frame.dport = entry.orig[0], entry.orig[2]
            entry.replied = True
            self.hop(
                frame,
                devices.node_ns(node),
                node=node,
                netns="root",
                device=None,
                action="un-snat",
                why=f"conntrack: the reply matches the entry created for the request; destination {before} → "
                f"{frame.ip_dst}:{frame.dport} (undoing the MASQUERADE) before routing",
                conntrack=entry.as_dict(),
            )
        elif state == "NEW" and frame.icmp is None:
            v = netfilter.run(tables, "nat", "PREROUTING", self.nf_packet(frame, state, in_dev, None), ctx)
            mark = v.mark
            if v.dnat:
                self.apply_dnat(info, frame, v, hook="PREROUTING")
            elif any(t["matched"] and t["chain"] != "PREROUTING" for t in v.trace):
                self.hop(
                    frame,
                    devices.node_ns(node),
                    node=node,
                    netns="root",
                    device=None,
                    action="iptables",
                    why="nat PREROUTING: "
                    + "; ".join(f"{t['chain']} → {t['target']}" for t in v.trace if t["matched"]),
                    chain_trace=v.trace,
                )
        if self.is_local(node, frame.ip_dst):
            self.local_in(info, in_dev, frame, state, entry, orig, mark)
            return
        route = node_routes(self.snap, node).lookup(frame.ip_dst)
        if route is None or route.type == "blackhole":
            text = route.text() if route else "no route"
            self.drop(
                frame,
                devices.node_ns(node),
                node=node,
                netns="root",
                device=None,
                why=f"routing {frame.ip_dst}: {text}",
            )
        assert route is not None
        out_dev = str(route.dev)
        if frame.ttl <= 1:
            self.drop(frame, devices.node_ns(node), node=node, netns="root", device=None, why="TTL exceeded")
        frame.ttl -= 1
        if state == "NEW":
            self.policy_from_workload(info, in_dev, frame)
        v = netfilter.run(tables, "filter", "FORWARD", self.nf_packet(frame, state, in_dev, out_dev, mark), ctx)
        self.hop(
            frame,
            devices.node_ns(node),
            node=node,
            netns="root",
            device=None,
            action="route",
            why=f"forward (ip_forward=1): route {route.text()}; TTL {frame.ttl + 1} → {frame.ttl}",
            route=route.as_dict(),
            chain_trace=[t for t in v.trace if t["matched"]],
        )
        if state == "NEW":
            self.policy_to_workload(info, out_dev, frame)
        self.filter_verdict(info, frame, v, "FORWARD", in_dev=in_dev)
        self.postrouting(info, frame, state, entry, orig, route, out_dev, mark, tables, ctx)
        self.ip_output(info, route, frame)

    def apply_dnat(self, info: NodeInfo, frame: Frame, v: netfilter.Verdict, hook: str) -> None:
        assert v.dnat is not None
        before = f"{frame.ip_dst}:{frame.dport}"
        frame.ip_dst = v.dnat[0]
        if v.dnat[1] is not None:
            frame.dport = v.dnat[1]
        sep = v.rule.chain if v.rule is not None else ""
        matched = [t for t in v.trace if t["matched"]]
        path = " → ".join(dict.fromkeys(t["chain"] for t in matched))
        svc_port, ep = netfilter.node_tables(self.snap, info.name).endpoint_chain(sep)
        draws = [t for t in v.trace if "probability" in t]
        why = f"nat {hook}: {path}: DNAT {before} → {frame.ip_dst}:{frame.dport}"
        if svc_port is not None and ep is not None:
            dispatch = [t for t in matched if t["chain"].startswith(("KUBE-SVC-", "KUBE-SVL-")) and t["target"] == sep]
            n = self._chain_size(info.name, dispatch[0]["chain"]) if dispatch else 1
            self.endpoint = {
                "service": svc_port.key,
                "port": svc_port.name_string,
                "ip": ep.ip,
                "target_port": ep.port,
                "pod": ep.pod,
                "node": ep.node,
                "chain": sep,
                "dispatch_chain": dispatch[0]["chain"] if dispatch else None,
                "endpoints": n,
                "probability": probability(n),
                "draws": [
                    {"rule": t["rule"], "probability": t["probability"], "roll": t["roll"], "matched": t["matched"]}
                    for t in draws
                ],
            }
            chance = ", ".join(
                f"--probability {t['probability']} {'hit' if t['matched'] else 'missed'} (draw {t['roll']})"
                for t in draws
            )
            why += f" — endpoint {ep.pod or ep.ip} chosen among {n} (each 1/{n}; {chance or 'the only or last rule'})"
        self.hop(
            frame,
            devices.node_ns(info.name),
            node=info.name,
            netns="root",
            device=None,
            action="dnat",
            why=why,
            rule=v.decisive,
            chain_trace=v.trace,
        )

    def _chain_size(self, node: str, chain: str) -> int:
        rules = netfilter.node_tables(self.snap, node).chain("nat", chain)
        return sum(1 for r in rules if r.target.startswith("KUBE-SEP-") and r.match("recent") is None)

    def filter_verdict(self, info: NodeInfo, frame: Frame, v: netfilter.Verdict, hook: str, in_dev: str | None) -> None:
        if v.verdict == "ACCEPT":
            return
        node = info.name
        comment = v.rule.comment if v.rule is not None else None
        if v.verdict == "REJECT":
            why = f"filter {hook}: {v.rule.chain if v.rule else ''} rejects it" + (f" ({comment})" if comment else "")
            why += "; the kernel answers with ICMP port unreachable"
            self.hop(
                frame,
                devices.node_ns(node),
                node=node,
                netns="root",
                device=None,
                action="reject",
                why=why,
                rule=v.decisive,
                chain_trace=v.trace,
            )
            self.rejected_at = {"node": node, "in_dev": in_dev, "hook": hook, "frame": frame}
            self.verdict, self.reason = "rejected", why
            raise Stop
        why = f"filter {hook}: {v.rule.chain if v.rule else ''} drops it" + (f" ({comment})" if comment else "")
        self.drop(
            frame,
            devices.node_ns(node),
            node=node,
            netns="root",
            device=None,
            why=why,
            rule=v.decisive,
            chain_trace=v.trace,
        )

    def postrouting(
        self,
        info: NodeInfo,
        frame: Frame,
        state: str,
        entry: conntrack.Entry | None,
        orig: tuple[str, str, int | None, int | None],
        route: Route,
        out_dev: str,
        mark: int,
        tables: netfilter.NodeTables,
        ctx: netfilter.Context,
    ) -> None:
        node = info.name
        if entry is not None:
            if entry.dnat:
                before = f"{frame.ip_src}:{frame.sport}"
                frame.ip_src, frame.sport = entry.orig[1], entry.orig[3]
                entry.replied = True
                self.hop(
                    frame,
                    devices.node_ns(node),
                    node=node,
                    netns="root",
                    device=None,
                    action="un-dnat",
                    why=f"conntrack: reply to a DNAT'd connection; source {before} → {frame.ip_src}:{frame.sport} "
                    "(the address the client connected to)",
                    conntrack=entry.as_dict(),
                )
            entry.replied = True
            return
        if state != "NEW":
            return
        v = netfilter.run(tables, "nat", "POSTROUTING", self.nf_packet(frame, state, None, out_dev, mark), ctx)
        if v.masquerade:
            before = f"{frame.ip_src}:{frame.sport}"
            frame.ip_src = route.src if route.src and out_dev != "eth0" else self.dev_address(info, out_dev)
            if v.rule is not None and "--random-fully" in v.rule.target_options and frame.sport is not None:
                frame.sport = self.rng.randint(1024, 65535)
            who = v.rule.chain if v.rule is not None else ""
            self.hop(
                frame,
                devices.node_ns(node),
                node=node,
                netns="root",
                device=None,
                action="snat",
                why=f"nat POSTROUTING: {who} MASQUERADE: source {before} → {frame.ip_src}:{frame.sport} "
                f"(the address of the outgoing device {out_dev}"
                + (", port from --random-fully)" if v.rule and "--random-fully" in v.rule.target_options else ")"),
                rule=v.decisive,
                chain_trace=v.trace,
            )
        self.confirm(info, frame, orig)

    def confirm(self, info: NodeInfo, frame: Frame, orig: tuple[str, str, int | None, int | None]) -> None:
        """Confirm the new conntrack entry; show it when NAT makes it matter."""
        if frame.icmp is not None:
            return
        entry = conntrack.Entry(
            node=info.name,
            proto=frame.proto,
            orig=orig,
            reply=(frame.ip_dst, frame.ip_src, frame.dport, frame.sport),
        )
        self.ct.add(entry)
        if entry.dnat or entry.snat:
            self.hop(
                frame,
                devices.node_ns(info.name),
                node=info.name,
                netns="root",
                device=None,
                action="conntrack",
                why=f"new conntrack entry on {info.name}: {entry.text()}",
                conntrack=entry.as_dict(),
            )

    def local_in(
        self,
        info: NodeInfo,
        in_dev: str,
        frame: Frame,
        state: str,
        entry: conntrack.Entry | None,
        orig: tuple[str, str, int | None, int | None],
        mark: int,
    ) -> None:
        node = info.name
        tables = netfilter.node_tables(self.snap, node)
        ctx = self.nf_context(node)
        if state == "NEW":
            self.policy_from_workload(info, in_dev, frame)
        v = netfilter.run(tables, "filter", "INPUT", self.nf_packet(frame, state, in_dev, None, mark), ctx)
        self.filter_verdict(info, frame, v, "INPUT", in_dev=in_dev)
        if entry is not None and entry.dnat:
            before = f"{frame.ip_src}:{frame.sport}"
            frame.ip_src, frame.sport = entry.orig[1], entry.orig[3]
            self.hop(
                frame,
                devices.node_ns(node),
                node=node,
                netns="root",
                device=None,
                action="un-dnat",
                why=f"conntrack: reply to a DNAT'd connection; source {before} → {frame.ip_src}:{frame.sport}",
                conntrack=entry.as_dict(),
            )
        if entry is not None:
            entry.replied = True
        elif state == "NEW":
            self.confirm(info, frame, orig)
        if self.phase == "reply" or frame.icmp is not None:
            self.deliver_to_client(frame, devices.node_ns(node), node=node, netns="root")
            return
        hostnet = [
            p
            for p in self.idx.pods_on_node.get(node, ())
            if p.host_network and any(cp.port == frame.dport and cp.protocol.lower() == frame.proto for cp in p.ports)
        ]
        who = f"hostNetwork pod {hostnet[0].key}" if hostnet else "a process in the host network namespace"
        why = f"local delivery on {node} (filter INPUT accepts): {frame.ip_dst}:{frame.dport} is served by {who}"
        self.hop(
            frame,
            devices.node_ns(node),
            node=node,
            netns="root",
            device=None,
            action="deliver",
            why=why,
            chain_trace=[t for t in v.trace if t["matched"]],
        )
        self.delivered_to = {
            "kind": "node",
            "node": node,
            "ip": frame.ip_dst,
            "port": frame.dport,
            "pod": hostnet[0].key if hostnet else None,
        }
        self.finish("delivered", f"delivered to {who} on {node} ({frame.ip_dst}:{frame.dport})")

    def ip_output(self, info: NodeInfo, route: Route, frame: Frame) -> None:
        node = info.name
        dev = str(route.dev)
        nexthop = route.via or frame.ip_dst
        if dev == "cni0":
            neigh = node_neighbours(self.snap, node).lookup(nexthop, "cni0")
            if neigh is None:
                self.drop(
                    frame,
                    devices.node_dev(node, "cni0"),
                    node=node,
                    netns="root",
                    device="cni0",
                    why=f"ARP for {nexthop} on cni0 gets no answer (INCOMPLETE): no pod has that address",
                )
            assert neigh is not None
            frame.eth_src, frame.eth_dst = info.cni0_mac, neigh.mac
            entry = node_fdb(self.snap, node).lookup("cni0", str(neigh.mac))
            assert entry is not None
            self.hop(
                frame,
                devices.node_dev(node, "cni0"),
                node=node,
                netns="root",
                device="cni0",
                action="bridge-forward",
                why=f"out of cni0: neighbour {neigh.text()}; FDB: {neigh.mac} on port {entry.dev}",
                neighbour=neigh.as_dict(),
                fdb=entry.as_dict(),
            )
            pod = self.node_of_veth(node, entry.dev)
            assert pod is not None
            self.veth_to_pod(pod, frame, via_bridge=True)
        elif dev.startswith("cali"):
            neigh = node_neighbours(self.snap, node).lookup(nexthop, dev)
            pod = self.node_of_veth(node, dev)
            if neigh is None or pod is None:
                self.drop(
                    frame,
                    devices.node_dev(node, dev),
                    node=node,
                    netns="root",
                    device=dev,
                    why=f"no neighbour {nexthop} on {dev}",
                )
            assert neigh is not None and pod is not None
            frame.eth_src, frame.eth_dst = addr.CALICO_HOST_MAC, neigh.mac
            self.hop(
                frame,
                devices.node_dev(node, dev),
                node=node,
                netns="root",
                device=dev,
                action="transmit",
                why=f"routed into the pod's veth: neighbour {neigh.text()} (the source MAC of every cali "
                "interface is ee:ee:ee:ee:ee:ee)",
                neighbour=neigh.as_dict(),
            )
            self.veth_to_pod(pod, frame, via_bridge=False)
        elif dev == self.cni.overlay_dev and self.cni.encap == "vxlan":
            self.vxlan_encap(info, dev, nexthop, frame)
        elif dev == "tunl0":
            self.ipip_encap(info, nexthop, frame)
        elif dev == "eth0":
            self.eth0_out(info, nexthop, frame)
        else:
            self.drop(
                frame, devices.node_ns(node), node=node, netns="root", device=dev, why=f"no model for device {dev}"
            )

    # calico enforces NetworkPolicy where a packet leaves (cali-fw) or enters (cali-tw) a pod

    def policy_from_workload(self, info: NodeInfo, in_dev: str, frame: Frame) -> None:
        if not self.cni.enforces_policy or not in_dev.startswith("cali") or frame.icmp is not None:
            return
        pod = self.node_of_veth(info.name, in_dev)
        if pod is None or frame.dport is None:
            return
        decision = netpol.evaluate(self.idx, pod, "egress", self.peer_for(frame.ip_dst), frame.proto, frame.dport)
        self._policy_hop(info, in_dev, f"cali-fw-{in_dev}", decision, frame)

    def policy_to_workload(self, info: NodeInfo, out_dev: str, frame: Frame) -> None:
        if not self.cni.enforces_policy or not out_dev.startswith("cali") or frame.icmp is not None:
            return
        pod = self.node_of_veth(info.name, out_dev)
        if pod is None or frame.dport is None:
            return
        decision = netpol.evaluate(self.idx, pod, "ingress", self.peer_for(frame.ip_src), frame.proto, frame.dport)
        self._policy_hop(info, out_dev, f"cali-tw-{out_dev}", decision, frame)

    def _policy_hop(self, info: NodeInfo, dev: str, chain: str, d: netpol.Decision, frame: Frame) -> None:
        self.policy.append(d.as_dict())
        if not d.isolated:
            return
        graph_node = devices.node_dev(info.name, dev)
        rule = {"table": "filter", "chain": chain, "policies": d.policies, "allowed_by": d.allowed_by}
        why = f"calico {chain} ({d.direction} policy of {d.pod}): {d.reason}"
        if d.allowed:
            self.hop(
                frame,
                graph_node,
                node=info.name,
                netns="root",
                device=dev,
                action="policy-allow",
                why=why,
                rule=rule,
                policy=d.as_dict(),
            )
        else:
            self.drop(
                frame, graph_node, node=info.name, netns="root", device=dev, why=why, rule=rule, policy=d.as_dict()
            )
