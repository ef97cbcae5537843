"""The paper's experiments, runnable with one call or one command.

>>> from streamnets.experiments import EXPERIMENTS
>>> sorted(EXPERIMENTS)
['cifar10', 'gtsrb', 'mnist']

``reproduce("all", profile="ci")`` trains every network of every experiment under
the streaming and sequential rollouts (and the hybrid one for MNIST), evaluates
test accuracy per output frame on the update-step axis, checks the paper's claims
and writes results, figures and a claims report (see :mod:`.runner`). Reference
results of the ci profile ship in ``streamnets/experiments/reference/``.
"""

from .claims import check_claims
from .definitions import EXPERIMENTS, PROFILES, Experiment, Profile, get_experiment
from .report import claims_markdown, compare_to_reference, write_report
from .runner import reproduce, run_experiment, subset

__all__ = ["EXPERIMENTS", "PROFILES", "Experiment", "Profile", "get_experiment", "reproduce",
           "run_experiment", "subset", "check_claims", "claims_markdown", "write_report",
           "compare_to_reference", "reference_results"]


def reference_results(experiment, profile="ci"):
    """The committed reference results of an experiment (None if there are none):
    what ``streamnets reproduce`` compares a new run with.

    Examples
    --------
    >>> ref = reference_results("mnist")
    >>> ref["experiment"], ref["profile"], len(ref["runs"]) > 0
    ('mnist', 'ci', True)
    >>> reference_results("mnist", profile="nope") is None
    True
    """
    import json
    from importlib import resources

    path = resources.files(__package__) / "reference" / profile / experiment / "results.json"
    return json.loads(path.read_text()) if path.is_file() else None
