"""Misconceptions no author anticipated: how many does the grader praise as covered?

Run: .venv/bin/python bench/novel_misconceptions.py

The dev set's misconceptions were written against the same lessons as the rubric points'
`misconceptions:` lists, so its "contradicted points marked covered: 0" says little about a
belief the author did not foresee. These 18 answers were written on 2026-12-04, after the
lists, each stating one wrong belief in otherwise reasonable prose, in words the lists do not
use. A teacher marks the named point contradicted in every one. The figure that matters is how
many the grader marks covered: the learner is then praised for a wrong belief. Only the named
point is compared; the other points of each answer are not labelled.
"""

from __future__ import annotations

import collections
from pathlib import Path

from learnloop.content.parser import parse_course
from learnloop.grading.grader import grade

COURSE = Path(__file__).resolve().parents[1] / "courses" / "cloud-native"

# (lesson, rubric point the answer contradicts, answer)
CASES = [
    (
        1,
        "shared-kernel",
        (
            "Containers and VMs both isolate apps. On Linux each container runs on a slimmed-down "
            "guest kernel that Docker provides, so its much lighter than a full VM. Namespaces and "
            "cgroups do the isolation."
        ),
    ),
    (
        2,
        "cache-mismatch",
        (
            "latest is a moving tag, someone pushed a new build to it. The image was identical on "
            "every node though, the bug came from the new node having a different CPU type. Use "
            "version tags."
        ),
    ),
    (
        3,
        "non-root",
        (
            "Use python:3.12-slim, copy requirements.txt and pip install before copying the code, "
            "and add a .dockerignore. Keep running as root because the app needs root to listen on "
            "port 8000."
        ),
    ),
    (
        4,
        "named-volume",
        (
            "The data lived in the container's writable layer and was removed with it. Next time "
            "just mount the data dir on /tmp inside the container, /tmp is kept when the container "
            "is deleted."
        ),
    ),
    (
        5,
        "apiserver-etcd",
        (
            "kubectl sends the manifest to the API server, which keeps the Deployment only in its "
            "own memory; etcd only stores node info. Then controllers make a ReplicaSet and Pods, "
            "the scheduler picks nodes and the kubelet starts containers."
        ),
    ),
    (
        5,
        "scheduler",
        (
            "The API server stores the Deployment in etcd and controllers create a ReplicaSet and "
            "Pods. kubectl itself chooses a node for each Pod from your current context. The "
            "kubelet then pulls and starts the containers."
        ),
    ),
    (
        6,
        "readiness",
        (
            "Deployment with RollingUpdate, maxSurge 1 and maxUnavailable 0. You dont need a "
            "readiness probe since the rollout already waits until the container process has "
            "started. Roll back with kubectl rollout undo."
        ),
    ),
    (
        6,
        "rollback",
        (
            "Use a Deployment with RollingUpdate, maxUnavailable 0, and a readiness probe. To go "
            "back you have to delete the Deployment and apply the old yaml again, there is no "
            "built-in undo."
        ),
    ),
    (
        7,
        "tls",
        (
            "Two ClusterIP Services and one Ingress with /api to the api and / to the frontend, "
            "with an ingress controller behind a LoadBalancer. TLS must be terminated inside each "
            "Pod, an Ingress cannot hold certificates."
        ),
    ),
    (
        8,
        "liveness-self",
        (
            "A startup probe with a long enough failureThreshold for the 90s boot. Liveness should "
            "call the database and the payment API so we know the whole system works. Readiness "
            "says whether the cache is loaded."
        ),
    ),
    (
        8,
        "readiness-traffic",
        (
            "Use a startup probe for the 90 second boot, liveness only checks the process. A "
            "failing readiness probe makes Kubernetes reschedule the Pod onto another node."
        ),
    ),
    (
        9,
        "same-artifact",
        (
            "Immutable images are never changed, you build a new one instead. Each environment "
            "should get its own build with its own settings baked in, dev with debug flags and prod"
            " optimised. Minimal images also have a smaller attack surface."
        ),
    ),
    (
        10,
        "rbac",
        (
            "Scan in CI and fail on critical CVEs, generate an SBOM and sign the image, and verify "
            "the signature at admission. Run the pods with cluster-admin so they can read their own"
            " config without permission errors."
        ),
    ),
    (
        11,
        "low-cardinality",
        (
            "Expose request rate, errors and a latency histogram. Put the customer email as a label"
            " on the request counter so we can see exactly who is affected. Log JSON to stdout with"
            " the trace id."
        ),
    ),
    (
        11,
        "structured-logs",
        (
            "RED metrics with a histogram, OpenTelemetry traces through the HTTP server and DB "
            "calls. Logs should be free text lines in a file under /var/log in the container, JSON "
            "is hard to read and trace ids are not needed in logs."
        ),
    ),
    (
        12,
        "security",
        (
            "Packaging: minimal non-root image. Security: put the database password in a ConfigMap "
            "so it is easy to change, and run with restricted pod settings and NetworkPolicies."
        ),
    ),
    (
        1,
        "weaker-isolation",
        (
            "A container shares the host kernel instead of having its own, using namespaces and "
            "cgroups. Since the kernel enforces it, a container is basically a VM in terms of "
            "security."
        ),
    ),
    (
        3,
        "exec-form",
        (
            "Use a slim pinned base, install requirements before copying code, add a USER. CMD "
            "python main.py is better than the JSON form because the shell forwards signals to "
            "python."
        ),
    ),
]


def main() -> None:
    course, problems = parse_course(COURSE)
    assert course is not None, problems
    counts: collections.Counter[str] = collections.Counter()
    for number, point_id, answer in CASES:
        lesson = course.lessons[number - 1]
        (exercise,) = lesson.written
        feedback = grade(exercise, answer, lesson=lesson)
        status = next(p.status for p in feedback.points if p.id == point_id)
        counts[status] += 1
        print(f"lesson {number:>2} {point_id:<18} {status:<12} score {feedback.score}")
    print(
        f"named point: contradicted {counts['contradicted']}, covered {counts['covered']} "
        f"(praised), partial {counts['partial']}, missing {counts['missing']} of {len(CASES)}"
    )


if __name__ == "__main__":
    main()
