"""The public API is exactly ``__all__``, and every documented example runs."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import evenhand

PUBLIC = {"EvenhandError", "__version__", "audit", "Audit", "data_bias", "find_slices",
          "decompose", "Decomposition", "allocate", "Allocation", "bounds", "compliance",
          "datasets", "explain", "mitigate", "trace"}


def test_all_is_exactly_the_public_api():
    assert set(evenhand.__all__) == PUBLIC


@pytest.mark.parametrize("name", sorted(PUBLIC - {"__version__"}))
def test_every_public_name_resolves(name):
    assert getattr(evenhand, name) is not None


def test_unknown_attribute_raises():
    with pytest.raises(AttributeError):
        evenhand.nope  # noqa: B018


def _modules():
    for info in pkgutil.walk_packages(evenhand.__path__, "evenhand."):
        if info.name.endswith("__main__"):
            continue
        yield info.name


@pytest.mark.parametrize("module", sorted(_modules()))
def test_docstring_examples_run(module):
    mod = importlib.import_module(module)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    for test in finder.find(mod, module):
        runner.run(test)
    assert runner.failures == 0, f"{runner.failures} docstring example(s) failed in {module}"


# Recorded public surface: a change here is a change of the public API and must be deliberate.
RECORDED_DIR = sorted(PUBLIC)
RECORDED_ALL = {
    "bounds": ["Certificate", "certify", "flip_test"],
    "compliance": ["AdverseImpact", "LL144Audit", "RACE_CATEGORIES", "SEX_CATEGORIES",
                   "adverse_impact", "ll144_audit"],
    "datasets": ["load_compas", "make_cardiac_cohort", "make_services_population",
                 "propublica_filter"],
    "explain": ["DECISION_SCHEMA", "DecisionExplainer", "DecisionRecord", "GroupConformal",
                "render_cards"],
    "mitigate": ["BoundedGroupLoss", "CorrelationRemover", "DemographicParity",
                 "DisparateImpactRemover", "EqualizedOdds", "ErrorRateParity",
                 "ExponentiatedGradient", "FalsePositiveRateParity", "GridSearch", "Moment",
                 "RejectOptionClassifier", "Reweighing", "ThresholdOptimizer",
                 "TruePositiveRateParity", "chart", "tradeoff"],
    "report": ["Wording", "audit_chart", "audit_repr_html", "javascript_bundle", "render_audit",
               "render_sections", "table_html"],
    "trace": ["PreparationTrace", "trace_preparation"],
}


def test_dir_matches_the_recorded_list():
    assert sorted(dir(evenhand)) == RECORDED_DIR


@pytest.mark.parametrize("subpackage", sorted(RECORDED_ALL))
def test_subpackage_all_matches_the_recorded_list(subpackage):
    module = importlib.import_module(f"evenhand.{subpackage}")
    assert sorted(module.__all__) == RECORDED_ALL[subpackage]
    for name in module.__all__:
        assert getattr(module, name) is not None
