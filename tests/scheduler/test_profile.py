"""KubeSchedulerConfiguration parsing: defaults, plugin sets, weights, args and errors."""

from __future__ import annotations

import pytest

from cluster.scheduler.profile import ProfileError, default_profile, load_configuration, load_profile

HEAD = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"


def test_default_profile_matches_v1_32() -> None:
    p = default_profile()
    assert p.scheduler_name == "default-scheduler"
    assert p.plugins_for("filter") == (
        "NodeUnschedulable",
        "NodeName",
        "TaintToleration",
        "NodeAffinity",
        "NodePorts",
        "NodeResourcesFit",
        "VolumeRestrictions",
        "NodeVolumeLimits",
        "VolumeBinding",
        "VolumeZone",
        "PodTopologySpread",
        "InterPodAffinity",
    )
    assert p.plugins_for("score") == (
        "TaintToleration",
        "NodeAffinity",
        "NodeResourcesFit",
        "VolumeBinding",
        "PodTopologySpread",
        "InterPodAffinity",
        "NodeResourcesBalancedAllocation",
        "ImageLocality",
    )
    assert p.score_weights == {
        "TaintToleration": 3,
        "NodeAffinity": 2,
        "NodeResourcesFit": 1,
        "VolumeBinding": 1,
        "PodTopologySpread": 2,
        "InterPodAffinity": 2,
        "NodeResourcesBalancedAllocation": 1,
        "ImageLocality": 1,
    }
    assert p.plugins_for("postFilter") == ("DefaultPreemption",)
    assert p.percentage_of_nodes_to_score == 0
    assert p.plugin_args["NodeResourcesFit"]["scoringStrategy"] == {
        "type": "LeastAllocated",
        "resources": [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}],
    }
    assert load_profile(HEAD) == p


def test_disable_all_scores_and_enable_one() -> None:
    p = load_profile(
        HEAD
        + "profiles:\n- plugins:\n    score:\n      disabled: [{name: '*'}]\n      enabled: [{name: ImageLocality, weight: 7}]\n"
    )
    assert p.plugins_for("score") == ("ImageLocality",)
    assert p.score_weights["ImageLocality"] == 7
    assert p.plugins_for("filter")[0] == "NodeUnschedulable"


def test_reweighting_an_enabled_score_plugin_keeps_its_place() -> None:
    p = load_profile(
        HEAD + "profiles:\n- plugins:\n    score:\n      enabled: [{name: NodeResourcesFit, weight: 10}]\n"
    )
    # explicitly configured plugins come first (overrides), then the rest of MultiPoint
    assert p.plugins_for("score")[0] == "NodeResourcesFit"
    assert p.score_weights["NodeResourcesFit"] == 10


def test_multipoint_weight_override_and_disable() -> None:
    p = load_profile(
        HEAD
        + """profiles:
- plugins:
    multiPoint:
      enabled: [{name: TaintToleration, weight: 10}]
      disabled: [{name: ImageLocality}]
    filter:
      disabled: [{name: NodePorts}]
"""
    )
    assert p.score_weights["TaintToleration"] == 10
    assert "ImageLocality" not in p.plugins_for("score")
    assert "NodePorts" not in p.plugins_for("filter")
    assert "NodePorts" in p.plugins_for("preFilter")


def test_filter_disabled_all() -> None:
    p = load_profile(
        HEAD + "profiles:\n- plugins:\n    filter:\n      disabled: [{name: '*'}]\n      enabled: [{name: NodeName}]\n"
    )
    assert p.plugins_for("filter") == ("NodeName",)


def test_scoring_strategy_args() -> None:
    p = load_profile(
        HEAD
        + """percentageOfNodesToScore: 30
profiles:
- schedulerName: bin-packer
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: RequestedToCapacityRatio
        resources: [{name: cpu, weight: 2}, {name: nvidia.com/gpu}]
        requestedToCapacityRatio:
          shape: [{utilization: 0, score: 0}, {utilization: 100, score: 10}]
  - name: NodeResourcesBalancedAllocation
    args:
      resources: [{name: cpu, weight: 1}, {name: memory, weight: 1}, {name: nvidia.com/gpu, weight: 1}]
"""
    )
    assert p.scheduler_name == "bin-packer" and p.percentage_of_nodes_to_score == 30
    strategy = p.plugin_args["NodeResourcesFit"]["scoringStrategy"]
    assert strategy["type"] == "RequestedToCapacityRatio"
    assert strategy["resources"] == [{"name": "cpu", "weight": 2}, {"name": "nvidia.com/gpu", "weight": 1}]
    assert strategy["shape"] == [{"utilization": 0, "score": 0}, {"utilization": 100, "score": 10}]
    assert [r["name"] for r in p.plugin_args["NodeResourcesBalancedAllocation"]["resources"]] == [
        "cpu",
        "memory",
        "nvidia.com/gpu",
    ]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            "profiles:\n- plugins:\n    score:\n      enabled: [{name: NoSuchPlugin}]\n",
            'profiles[0].plugins.score: ScorePlugin "NoSuchPlugin" does not exist',
        ),
        (
            "profiles:\n- plugins:\n    score:\n      enabled: [{name: NodeName}]\n",
            'profiles[0].plugins.score: plugin "NodeName" does not extend ScorePlugin plugin',
        ),
        (
            "profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n    args: {scoringStrategy: {type: Fancy}}\n",
            'profiles[0].pluginConfig[0].args.scoringStrategy.type: Unsupported value: "Fancy": supported values: "LeastAllocated", "MostAllocated", "RequestedToCapacityRatio"',
        ),
        (
            "profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n    args:\n      scoringStrategy:\n        type: RequestedToCapacityRatio\n        requestedToCapacityRatio: {shape: [{utilization: 50, score: 1}, {utilization: 10, score: 11}]}\n",
            "profiles[0].pluginConfig[0].args.scoringStrategy.shape[1].utilization: Invalid value: 10: utilization values must be sorted in increasing order",
        ),
        (
            "profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n    args:\n      scoringStrategy:\n        type: RequestedToCapacityRatio\n        requestedToCapacityRatio: {shape: [{utilization: 0, score: 11}]}\n",
            "profiles[0].pluginConfig[0].args.scoringStrategy.shape[0].score: Invalid value: 11: not in valid range [0, 10]",
        ),
        (
            "profiles:\n- pluginConfig:\n  - name: NodeResourcesBalancedAllocation\n    args: {resources: [{name: cpu, weight: 2}]}\n",
            "profiles[0].pluginConfig[0].args.resources[0].weight: Invalid value: 2: must be 1",
        ),
        (
            "profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n    args: {}\n  - name: NodeResourcesFit\n    args: {}\n",
            'profiles[0].pluginConfig[1]: Duplicate value: "NodeResourcesFit"',
        ),
        ("percentageOfNodesToScore: 120\n", "percentageOfNodesToScore: Invalid value: 120: not in valid range [0-100]"),
        (
            "profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n    args: {scoringStrategy: {typo: x}}\n",
            'profiles[0].pluginConfig[0].args.scoringStrategy: strict decoding error: unknown field "typo"',
        ),
        (
            "profiles:\n- plugins:\n    filter:\n      enabled: [{name: EBSLimits}]\n",
            'profiles[0].plugins.filter.enabled[0]: Invalid value: "EBSLimits": was invalid in version "kubescheduler.config.k8s.io/v1" (KubeSchedulerConfiguration is version "kubescheduler.config.k8s.io/v1")',
        ),
        (
            "profiles:\n- plugins:\n    queueSort:\n      disabled: [{name: '*'}]\n",
            "profiles[0].plugins.queueSort: only one queue sort plugin required for profile, but got 0",
        ),
    ],
)
def test_invalid_configuration(body: str, error: str) -> None:
    with pytest.raises(ProfileError) as exc:
        load_profile(HEAD + body)
    assert error in exc.value.errors
    assert isinstance(exc.value, ValueError)
    assert error in str(exc.value)


def test_wrong_api_version_and_yaml() -> None:
    with pytest.raises(ProfileError) as exc:
        load_profile("apiVersion: kubescheduler.config.k8s.io/v1beta3\nkind: KubeSchedulerConfiguration\n")
    assert exc.value.errors[0].startswith('apiVersion: Unsupported value: "kubescheduler.config.k8s.io/v1beta3"')
    with pytest.raises(ProfileError):
        load_profile("apiVersion: [unclosed")


def test_multiple_errors_are_all_reported() -> None:
    with pytest.raises(ProfileError) as exc:
        load_profile(
            HEAD + "percentageOfNodesToScore: -1\nprofiles:\n- plugins:\n    score:\n      enabled: [{name: Nope}]\n"
        )
    assert len(exc.value.errors) == 2


def test_multiple_profiles() -> None:
    profiles = load_configuration(
        HEAD + "profiles:\n- schedulerName: a\n- schedulerName: b\n  percentageOfNodesToScore: 50\n"
    )
    assert [p.scheduler_name for p in profiles] == ["a", "b"]
    assert load_profile(HEAD + "profiles:\n- schedulerName: a\n- schedulerName: b\n", "b").scheduler_name == "b"
    with pytest.raises(ProfileError):
        load_configuration(HEAD + "profiles:\n- schedulerName: a\n- schedulerName: a\n")
