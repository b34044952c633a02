"""The stance cue reads what a sentence asserts and what it denies. These are the cases where a
learner agrees with a rubric point in other words, and where they deny it."""

import pytest

from learnloop.grading.features import (
    contradiction_cue,
    dismissal_cue,
    equates_difference,
    polarity,
    stem,
    value_stance,
)

BY_NAME = (
    "The API should reach the database by container or service name on a shared network, "
    "not localhost or a fixed IP."
)


@pytest.mark.parametrize(
    "sentence",
    [
        "so the api can use db:5432 as host instead of localhost",
        "connect to the db container by its name rather than localhost",
        "use the service name in place of localhost or a hard-coded IP",
        # the denial reaches what is not used, not the verb
        "The API shouldn't use localhost or a hard-coded IP",
        # what would happen is no claim either way
        "Localhost would point at the API container itself",
    ],
)
def test_rejecting_the_same_alternative_agrees_with_the_point(sentence: str) -> None:
    assert not contradiction_cue(sentence, BY_NAME)


@pytest.mark.parametrize(
    "sentence",
    [
        "the api should connect to localhost:5432 since they share the host",
        "use localhost rather than the container name",
    ],
)
def test_choosing_the_rejected_alternative_is_a_denial(sentence: str) -> None:
    assert contradiction_cue(sentence, BY_NAME)


def test_the_rejected_alternative_is_denied_and_the_choice_asserted() -> None:
    asserted, denied = polarity("use the db name instead of localhost")
    assert "localhost" in denied
    assert "db" in asserted
    assert "localhost" not in asserted


# Saying that what a point asks for is not needed denies the point, though the negation falls
# on "need" rather than on the thing itself.
CONTROLLER = "An ingress controller must run, exposed by a single LoadBalancer that DNS points to."
DIGEST = "Reference images by digest to pin an exact image."
BACKUPS = "Mentions that regular backups are still needed because a volume is not a backup."
SHELLS = (
    "Minimal base images leave out shells, package managers and unused libraries, reducing the "
    "attack surface."
)
CASCADE = (
    "Putting the database in liveness would restart all replicas at once during a database "
    "outage, worsening it."
)
TRACE_LOGS = "Writes structured logs to stdout that include the trace id."
READINESS_TRAFFIC = (
    "Readiness reflects whether the Pod can serve (cache loaded), and failing it removes the Pod "
    "from traffic without a restart."
)
NON_ROOT = "Add a non-root user and a USER instruction so the app does not run as root."
DOCKERIGNORE = "Add a .dockerignore to keep files like .git and .env out of the build context."


@pytest.mark.parametrize(
    ("sentence", "point"),
    [
        ("the API server does the routing so you dont need to install a controller", CONTROLLER),
        ("I wouldnt bother with digests, a version tag pins it just as well", DIGEST),
        ("with a named volume, backups are optional", BACKUPS),
        ("there is no need for backups once the data sits in a volume", BACKUPS),
        # the passive names what it dismisses before the verb
        ("JSON is hard to read and trace ids are not needed in logs", TRACE_LOGS),
        ("backups aren't really necessary once you have a volume", BACKUPS),
        # "keep X out" leaves out X, and still asks for what the clause starts with
        ("a .dockerignore is pointless because COPY skips hidden files anyway", DOCKERIGNORE),
        ("minimal images are unnecessary, a full base works just as well", SHELLS),
        # "non-root" rules out root only: the point still asks for the user and the USER line
        ("I wouldn't bother with a USER line, root inside can't touch the host", NON_ROOT),
    ],
)
def test_dismissing_what_the_point_asks_for_is_a_denial(sentence: str, point: str) -> None:
    assert dismissal_cue(sentence, point)


@pytest.mark.parametrize(
    ("sentence", "point"),
    [
        # Agreeing with a point about leaving something out.
        ("you don't need a shell in a production image", SHELLS),
        # what is left out runs on through the list: package managers are left out too
        ("a minimal image does not need a package manager or a shell", SHELLS),
        ("you dont need the .git folder or .env in the build context", DOCKERIGNORE),
        ("the app doesn't need root, so give it its own user", NON_ROOT),
        # Stating the point.
        ("an ingress controller like ingress-nginx runs behind one LoadBalancer", CONTROLLER),
        ("you still need backups: a volume survives the container, not a disk failure", BACKUPS),
        # A need denied for something the point does not ask for.
        ("with a digest you dont need to guess which build runs", DIGEST),
        ("a restart is not needed, the Pod just leaves the Service", READINESS_TRAFFIC),
        # a point that warns of a consequence asks for nothing
        ("the pods don't need to be restarted when the database is down", CASCADE),
    ],
)
def test_agreeing_or_dismissing_something_else_is_no_denial(sentence: str, point: str) -> None:
    assert not dismissal_cue(sentence, point)


WEAKER = "Sharing the kernel makes container isolation weaker than a VM's."


@pytest.mark.parametrize(
    "sentence",
    [
        "containers are just as isolated as a VM",
        "a container is as secure as a VM",
        "you get the same isolation as a VM",
        "containers are no different from VMs",
    ],
)
def test_saying_there_is_no_difference_denies_a_point_that_draws_one(sentence: str) -> None:
    assert equates_difference(sentence, WEAKER)


@pytest.mark.parametrize(
    "sentence",
    [
        "containers are not as isolated as a VM",
        "containers aren't as secure as VMs",
        # Alike in something else, or alike to something the point does not compare with.
        "a container starts as fast as a process on the host",
        "the same image runs in staging as in production",
    ],
)
def test_a_likeness_the_point_does_not_deny_is_no_denial(sentence: str) -> None:
    assert not equates_difference(sentence, WEAKER)


@pytest.mark.parametrize(
    ("sentence", "point"),
    [
        (
            "The Deployment controller doesn't create Pods itself, it creates a ReplicaSet",
            "Controllers create a ReplicaSet and then the Pod objects.",
        ),
        (
            "a container doesnt get its own kernel - it runs on the host's kernel",
            "Containers share the host kernel, while each VM runs its own guest kernel.",
        ),
        (
            "The DB must not be in liveness",
            "Putting the database in liveness would restart all replicas at once.",
        ),
        # the denial reaches past the object: nothing is killed
        (
            "a startup probe so the 90 seconds of loading don't get the container killed",
            "Uses a startup probe with enough time for the 90-second boot so liveness does not "
            "kill it.",
        ),
    ],
)
def test_a_word_both_asserted_and_denied_or_only_supposed_is_no_denial(
    sentence: str, point: str
) -> None:
    assert not contradiction_cue(sentence, point)


def test_a_plain_denial_of_the_points_verb_is_still_one() -> None:
    point = "A failing readiness probe removes the Pod from the Service's endpoints."
    assert contradiction_cue("A failing readiness probe never removes the Pod", point)


SURGE_POINT = "Sets maxUnavailable to 0 (with a surge of at least 1) so capacity never drops."


@pytest.mark.parametrize(
    ("claims", "stance"),
    [
        (["Set maxUnavailable: 0 with maxSurge: 1, which keeps us at 3 the whole time."], "agrees"),
        (["maxSurge 1 / maxUnavailable 0 so theres never fewer than 3 pods"], "agrees"),
        (["With maxUnavailable at 0 and maxSurge at 1 nothing is touched"], "agrees"),
        (["max unavailable zero, surge one"], "agrees"),
        # "at least 1" allows 2
        (["maxUnavailable to 0", "and a surge of 2 pods"], "agrees"),
        # the wrong value rejected beside the right one is right
        (["not maxUnavailable 1 but maxUnavailable 0"], "agrees"),
        (["with maxUnavailable: 1 and maxSurge: 0 we never exceed 3 pods"], "differs"),
        (["I'd set maxSurge and maxUnavailable so there are always enough pods"], "unvalued"),
        # the goal in plain words names no setting
        (["so that no pod is ever unavailable during the rollout"], None),
        (["i'd set maxsurge and maxunavailable in the yaml"], "unvalued"),
        # no key named: the point is judged by the model alone
        (["release the tag 1.6.0 and roll back with kubectl rollout undo"], None),
        # only the secondary setting, or the two disagreeing: nothing clear
        (["maxSurge: 1 keeps an extra pod"], None),
        (["maxUnavailable: 0.", "maxSurge: 0"], None),
    ],
)
def test_a_configured_value_is_read_from_the_claims(claims: list[str], stance: str | None) -> None:
    found = value_stance(SURGE_POINT, claims)
    assert (found[0] if found else None) == stance


def test_a_point_without_a_configuration_key_has_no_value_stance() -> None:
    point = "Use exec-form CMD so the application is PID 1 and receives SIGTERM."
    assert value_stance(point, ["the app runs as PID 1"]) is None


@pytest.mark.parametrize(
    ("inflected", "plain"),
    [("rescanning", "rescans"), ("setting", "sets"), ("stopped", "stops"), ("added", "adds")],
)
def test_a_doubled_consonant_before_ing_or_ed_meets_the_plain_form(
    inflected: str, plain: str
) -> None:
    """ "Continuous rescanning" missed "the registry rescans images nightly": two stems."""
    assert stem(inflected) == stem(plain)


@pytest.mark.parametrize(
    ("sentence", "dismisses"),
    [
        ("Skip the startup probe and just set initialDelaySeconds on liveness.", True),
        ("You can just skip the startup probe.", True),
        ("I'd skip the startup probe.", True),
        ("We skipped the startup probe: the app boots fast enough.", True),
        # described, not advised
        ("Liveness checks are skipped until the startup probe succeeds.", False),
        ("The kubelet skips liveness while the startup probe runs.", False),
        ("Don't skip the startup probe.", False),
    ],
)
def test_advice_to_skip_what_a_point_asks_for_is_a_dismissal(
    sentence: str, dismisses: bool
) -> None:
    point = (
        "Uses a startup probe with enough time for the 90-second boot so liveness does not kill it."
    )
    assert dismissal_cue(sentence, point) is dismisses
