"""Misconceptions the author anticipates (`grading.misconceptions`): a wrong belief in the
lesson's own words is named, and a correct sentence in the same words never is."""

from __future__ import annotations

from pathlib import Path

import pytest

from learnloop.content.model import AnticipatedMisconception, Course
from learnloop.content.parser import parse_course
from learnloop.grading.grader import grade
from learnloop.grading.misconceptions import states, term_problem

READINESS = AnticipatedMisconception(
    says="A failing readiness probe restarts the container.",
    when=("readiness", "restart*|reboot*"),
    unless=("liveness",),
    within=10,
    ordered=True,
)
NAMESPACES = AnticipatedMisconception(
    says="Namespaces limit CPU and memory.",
    when=("namespace*", "cpu|memory|cap on"),
    unless=("cgroup*",),
    within=5,
)
MINIMAL = AnticipatedMisconception(
    says="Minimal images are not more secure.",
    when=("minimal|distroless", "isnt more secure|not more secure|less secure"),
    within=6,
    ordered=True,
)
SURGE = AnticipatedMisconception(
    says="maxUnavailable: 1 keeps capacity.",
    when=("maxunavailable|maxunavailable to", "1"),
    within=0,
    ordered=True,
)


@pytest.mark.parametrize(
    ("misconception", "sentence"),
    [
        (READINESS, "if readiness keeps failing the kubelet restarts the container"),
        (READINESS, "I'd add a readiness probe too, its job is to restart a new pod that fails"),
        (NAMESPACES, "namespaces, which put a cap on cpu and memory"),
        (NAMESPACES, "Memory limits come from namespaces."),  # unordered: either order
        (MINIMAL, "I actually think minimal isn't more secure: you can't debug it"),
        (MINIMAL, "distroless isnt more secure"),  # the belief's own negation, written bare
        (SURGE, "maxUnavailable: 1 and maxSurge: 0"),
        (SURGE, "set maxUnavailable to 1"),
        # the learner's own reason after "because" is no report of others' belief
        (READINESS, "The myth is about speed, because the readiness probe restarts it anyway"),
        # a negation earlier in the clause does not reach past "and" to a later verb
        (READINESS, "the app cant serve yet and so readiness makes the kubelet restart it"),
        # "had to" is what the learner holds necessary, not a story of what went wrong
        (READINESS, "we had to let readiness restart the container when it hung"),
    ],
)
def test_a_stated_belief_is_found(misconception: AnticipatedMisconception, sentence: str) -> None:
    assert states(misconception, sentence)


@pytest.mark.parametrize(
    ("misconception", "sentence", "why"),
    [
        (READINESS, "When readiness fails the pod is not restarted.", "denied"),
        (READINESS, "readiness failing removes it from traffic without a restart", "denied"),
        (READINESS, "Readiness doesnt cause the kubelet to restart anything.", "denied"),
        (READINESS, "The kubelet restarts it when liveness fails, not readiness.", "denied"),
        (READINESS, "Readiness gates traffic, while restarts come from liveness.", "contrast"),
        (READINESS, "Readiness gates traffic; liveness restarts a stuck container.", "contrast"),
        (READINESS, "Restarts happen when readiness fails? No.", "a question"),
        (READINESS, "People often think readiness restarts the pod.", "reported"),
        (READINESS, "A common misconception is that readiness restarts the pod.", "reported"),
        (
            READINESS,
            "It's a myth that readiness restarts the pod, because it only gates traffic.",
            "reported",
        ),
        (READINESS, "Readiness doesnt kill and restart the container.", "denied past and"),
        (
            READINESS,
            "Last year our api had a readiness probe that made the kubelet restart it.",
            "an incident told in the past",
        ),
        (READINESS, "Restarting on readiness failure is what liveness is for.", "order"),
        (READINESS, "Readiness and liveness probes: restart only on liveness.", "unless"),
        (NAMESPACES, "Namespaces and cgroups isolate the process and cap on cpu.", "unless"),
        (NAMESPACES, "cgroups cap cpu and memory, whereas namespaces hide processes.", "contrast"),
        (
            NAMESPACES,
            "namespaces give each container its own view of the system and the processes "
            "inside it run on memory",
            "too far apart",
        ),
        (MINIMAL, "Minimal images are not less secure, they are safer.", "negation outside"),
        (SURGE, "maxSurge 1 / maxUnavailable 0: one new pod comes up first", "not adjacent"),
        (SURGE, "maxUnavailable 0, maxSurge 1", "no 1 next to it"),
        (
            READINESS,
            "If readiness checked the database, a restart would follow every outage.",
            "hypothetical",
        ),
    ],
)
def test_a_correct_or_reported_sentence_is_not_flagged(
    misconception: AnticipatedMisconception, sentence: str, why: str
) -> None:
    assert not states(misconception, sentence), why


WRONG_REASON = AnticipatedMisconception(
    says="Liveness leaves the database out because the checks would overload it.",
    when=("database", "overload*"),
    unless=("restart*",),
    unless_anywhere=True,
    within=10,
)


def test_the_right_reason_anywhere_in_the_sentence_clears_a_wrong_one() -> None:
    alone = "Opening a database connection every few seconds would overload it."
    both = "Every replica would restart at once, and the storm would overload the database."
    assert states(WRONG_REASON, alone)
    assert not states(WRONG_REASON, both)
    # Near the match only, the right reason in another stretch of the sentence is not seen.
    nearby_only = AnticipatedMisconception(
        says=WRONG_REASON.says, when=WRONG_REASON.when, unless=WRONG_REASON.unless, within=10
    )
    assert states(nearby_only, both)


@pytest.mark.parametrize(
    ("term", "problem"),
    [
        ("restart*|kill*", None),
        ("order_id|var/log|127.0.0.1", None),
        ("isnt more secure", None),
        ("restart||kill", "empty alternative"),
        ("|kill", "empty alternative"),
        ("re*start", "letters and digits"),
        ("cpu (limits)", "letters and digits"),
        # answers are cut into clauses at these words, so such a phrase never matches
        ("decid* which node", "leave the word out ('decid* node')"),
        ("ensure*|so that", "'so that' holds 'so'"),
        ("instead", "drop this alternative"),
    ],
)
def test_term_syntax(term: str, problem: str | None) -> None:
    found = term_problem(term)
    assert (found is None) if problem is None else (found is not None and problem in found)


# --- through the grader, on the bundled course --------------------------------------------


@pytest.fixture(scope="module")
def course() -> Course:
    parsed, problems = parse_course(Path("courses/cloud-native"))
    assert parsed is not None, problems
    return parsed


def graded(course: Course, number: int, answer: str) -> dict[str, str]:
    lesson = next(lesson for lesson in course.lessons if lesson.number == number)
    feedback = grade(lesson.written[0], answer, lesson=lesson)
    # Score, verdict and text agree with the statuses whatever they are.
    if any(p.status == "contradicted" for p in feedback.points):
        assert feedback.verdict == "contradictory"
        assert feedback.summary.startswith("Check this first")
    return {p.id: p.status for p in feedback.points}


@pytest.mark.parametrize(
    ("number", "answer", "point"),
    [
        (
            1,
            "Containers share the host kernel. The isolation comes from namespaces, which cap "
            "the cpu and memory a process can use, and from cgroups.",
            "namespaces-cgroups",
        ),
        (
            5,
            "kubectl sends it to the API server which stores it in etcd. Then the scheduler "
            "creates the three pods and the kubelet starts them.",
            "controllers",
        ),
        (
            7,
            "Each Deployment gets a Service and the Ingress routes /api and /. The TLS "
            "certificate and key go in a ConfigMap that the Ingress points to.",
            "tls",
        ),
        (
            11,
            "Expose a request counter and a latency histogram, labelled with the route and the "
            "customer id so we can see which customer is slow.",
            "low-cardinality",
        ),
        (
            8,
            "Keep Postgres out of the liveness probe, since a query every few seconds from "
            "each replica would hammer the database.",
            "cascade",
        ),
        (
            10,
            "CI attaches an SBOM to every image, and that SBOM is what guarantees the "
            "integrity of the image at admission.",
            "sbom",
        ),
        (
            11,
            "Logs go to stdout in plain text, which is nicer to read than JSON when you tail them.",
            "structured-logs",
        ),
        (
            11,
            "Count requests per route and give every series a customer_id tag, so support "
            "sees which customer was slow.",
            "low-cardinality",
        ),
        (
            12,
            "Security: non-root and restricted pods, and the API key sits in a Kubernetes "
            "Secret, and Secrets are encrypted so that is safe.",
            "security",
        ),
        (
            12,
            "Reliability: a single replica is fine because the Deployment brings it back when "
            "it crashes, with readiness and liveness probes.",
            "reliability",
        ),
        (
            12,
            "Packaging: a full ubuntu image so the on-call engineer can apt-get install tools "
            "and debug inside it.",
            "packaging",
        ),
        (
            1,
            "Containers are basically tiny VMs with a cut-down kernel, which is why they start "
            "so fast.",
            "shared-kernel",
        ),
        (
            2,
            "Once you push a tag it is fixed, so every pod had the very same image.",
            "latest-mutable",
        ),
        (
            2,
            "Digests are generated by each node as it pulls, so two nodes can end up with "
            "different ones.",
            "pin-digest",
        ),
        (
            3,
            "Leave CMD alone, exec form and shell form are equivalent once the app runs.",
            "exec-form",
        ),
        (
            4,
            "The container stored everything in the image, and the new image had none of it.",
            "writable-layer",
        ),
        (
            7,
            "Give the api a NodePort Service so the mobile app can hit it, and route the "
            "frontend through the Ingress.",
            "api-not-exposed",
        ),
        (
            9,
            "Staging and prod each build their own image from the Dockerfile, which keeps them "
            "in sync.",
            "same-artifact",
        ),
    ],
)
def test_an_anticipated_belief_contradicts_its_point(
    course: Course, number: int, answer: str, point: str
) -> None:
    assert graded(course, number, answer)[point] == "contradicted"


@pytest.mark.parametrize(
    ("number", "answer", "point"),
    [
        (
            1,
            "Namespaces decide what a process can see, its pids, mounts and network, while "
            "cgroups cap the cpu and memory it may use.",
            "namespaces-cgroups",
        ),
        (
            5,
            "The ReplicaSet controller creates the pods, the scheduler assigns each one to a "
            "node, and the kubelet there has the runtime start the containers.",
            "controllers",
        ),
        (
            7,
            "The TLS certificate and key live in a Secret, not a ConfigMap, and the Ingress "
            "terminates TLS with it.",
            "tls",
        ),
        (
            11,
            "Keep labels to the route template and status class; a customer id belongs in the "
            "logs and the trace, since a label per customer would explode the series.",
            "low-cardinality",
        ),
        (
            8,
            "Readiness doesnt restart anything: when it fails the pod just leaves the Service "
            "endpoints, and only liveness restarts a container.",
            "readiness-traffic",
        ),
        (
            8,
            "No database in liveness: during a Postgres outage every replica would fail it "
            "and restart at once, and the reconnect storm would overload the database.",
            "cascade",
        ),
        (
            10,
            "CI writes an SBOM listing every package of the image, and cosign signs the image "
            "so the cluster can check its integrity at admission.",
            "sbom",
        ),
        (
            11,
            "Plain text is easier on the eyes, but JSON logs on stdout can be parsed and "
            "searched, so every line is JSON with the trace id.",
            "structured-logs",
        ),
        (
            11,
            "Keep customer ids out of labels and use the route template; the id goes on the "
            "span as an attribute.",
            "low-cardinality",
        ),
        (
            12,
            "Kubernetes Secrets are only base64-encoded, not encrypted, so we turn on "
            "encryption at rest and pull the password from an external secret store.",
            "security",
        ),
        (
            12,
            "One replica is not enough: a node drain would take the service down, so we run "
            "three behind a PodDisruptionBudget.",
            "reliability",
        ),
        (
            12,
            "We compile in a debian builder stage and copy the binary into a distroless "
            "image that never runs as root.",
            "packaging",
        ),
        (
            1,
            "People picture a container as a lightweight VM, but it is a process that shares "
            "the host kernel.",
            "shared-kernel",
        ),
        (
            2,
            "A tag like latest does not change by itself; CI pushed a new build under it.",
            "latest-mutable",
        ),
        (
            2,
            "A digest is computed from the image content, so it is the same on each node.",
            "pin-digest",
        ),
        (
            3,
            "Exec form and shell form are not the same: in shell form /bin/sh is PID 1 and "
            "swallows SIGTERM.",
            "exec-form",
        ),
        (
            7,
            "Expose only the ingress controller with a LoadBalancer; the api keeps a ClusterIP "
            "Service.",
            "api-not-exposed",
        ),
        (
            9,
            "Build once in CI and promote that image; no stage builds its own image.",
            "same-artifact",
        ),
        (
            9,
            "Every build creates its own image, tagged with the commit, and that one image is "
            "promoted through every environment.",
            "same-artifact",
        ),
        (
            7,
            "Expose the api through the ingress's load balancer under /api; its own Service "
            "stays ClusterIP.",
            "api-not-exposed",
        ),
    ],
)
def test_the_truth_in_the_same_words_is_never_flagged(
    course: Course, number: int, answer: str, point: str
) -> None:
    assert graded(course, number, answer)[point] != "contradicted"
