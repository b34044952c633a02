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

from learnloop.content.model import Course
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


# Batch B, written on 2026-12-04 before any change measured against it, as a set no rule was
# designed on. Some restate an author's anticipated belief in other words, most state a belief
# nobody listed.
CASES_B = [
    (
        1,
        "namespaces-cgroups",
        (
            "Containers share the host kernel. The separation between containers is done by "
            "SELinux alone; namespaces are just a naming scheme for grouping containers. Use a VM"
            " when you need a different OS."
        ),
    ),
    (
        2,
        "latest-mutable",
        (
            "The latest tag is frozen to the first image pushed under it, so the registry served "
            "the same build, but the new node pulled a stale copy from a mirror. Tag each build "
            "with the commit sha and pin digests."
        ),
    ),
    (
        2,
        "pin-digest",
        (
            "latest was moved to a new build so the nodes ran different images. Use a unique "
            "version tag for each build. Digests are not worth it since the registry regenerates "
            "them whenever anything is pushed."
        ),
    ),
    (
        3,
        "cache-order",
        (
            "Pin a slim base, add a USER, use exec form CMD and a .dockerignore. Copy all the "
            "source first and then pip install, Docker reuses the install layer as long as "
            "requirements.txt is unchanged no matter what was copied before it."
        ),
    ),
    (
        3,
        "dockerignore",
        (
            "Use python:3.12-slim, install requirements before copying the code, create a user "
            "and switch with USER, use the JSON form of CMD. A .dockerignore is pointless because"
            " COPY never includes hidden files like .git or .env anyway."
        ),
    ),
    (
        4,
        "writable-layer",
        (
            "postgres:16 keeps its tables in RAM only, so any restart empties it. Mount a named "
            "volume on /var/lib/postgresql/data, put both containers on a user network, connect "
            "by the name db, and take backups."
        ),
    ),
    (
        4,
        "connect-by-name",
        (
            "Use a named volume for /var/lib/postgresql/data so the data survives. The API "
            "container should connect with the host's public IP and the published port 5432, "
            "since containers cant see each other otherwise. Keep backups too."
        ),
    ),
    (
        5,
        "controllers",
        (
            "The API server validates the Deployment and stores it in etcd. The kubelet notices "
            "the new Deployment and makes the three Pods itself, the scheduler then assigns them "
            "to nodes and the runtime starts the containers, all through the API server."
        ),
    ),
    (
        6,
        "readiness",
        (
            "RollingUpdate with maxSurge 1 and maxUnavailable 0, release with a new version tag. "
            "The liveness probe is what tells the Service when a new pod can take requests. Undo "
            "with kubectl rollout undo."
        ),
    ),
    (
        7,
        "api-not-exposed",
        (
            "ClusterIP Service for the frontend, and an Ingress with / to the frontend and /api "
            "to the api, TLS from a Secret, and an ingress controller behind a LoadBalancer. The "
            "api Service should be of type NodePort so that the Ingress can forward to it."
        ),
    ),
    (
        8,
        "startup-probe",
        (
            "Liveness checks only the process with a simple /healthz, readiness fails until the "
            "cache is loaded. No startup probe: set initialDelaySeconds on liveness to 10 and it "
            "will be fine. The database stays out of liveness or all pods restart together."
        ),
    ),
    (
        9,
        "easy-rollback",
        (
            "Immutable images never change after the build, so every environment runs the same "
            "tested artifact. Going back to an older release means checking out the old commit "
            "and building that image again. Minimal images drop the shell and package manager, so"
            " attackers have less to use."
        ),
    ),
    (
        10,
        "sign-verify",
        (
            "Scan in CI and fail the build on critical CVEs, attach an SBOM. Signing is only for "
            "open source projects, a private registry already proves where an image came from. "
            "Pod Security Admission blocks root pods, and a dedicated service account with "
            "minimal RBAC. Rescan running images."
        ),
    ),
    (
        11,
        "otel-traces",
        (
            "RED metrics with a latency histogram and route labels, JSON logs with trace ids to "
            "stdout, alert on p99 latency SLO burn. For traces each service starts a fresh trace "
            "for every incoming call, we join them later by timestamp."
        ),
    ),
    (
        12,
        "packaging",
        (
            "Packaging: a minimal non-root image, with a separate build per environment that has "
            "the right database URL inside. Delivery: CI scans and signs, GitOps deploys. "
            "Reliability: 3 replicas, probes. Security: Secrets, NetworkPolicies. Observability: "
            "metrics, logs, traces, SLO alerts."
        ),
    ),
    (
        12,
        "reliability",
        (
            "Packaging: minimal non-root image, config at runtime. Delivery via CI with signing "
            "and Argo CD. Reliability: one replica is enough since Kubernetes restarts it "
            "instantly when it crashes. Security: non-root, NetworkPolicies, Secrets. "
            "Observability: RED metrics and SLO alerts."
        ),
    ),
    (
        8,
        "readiness-traffic",
        (
            "A startup probe with failureThreshold 30 and period 5 for the boot. Liveness hits "
            "/healthz on the process only. Readiness reports the cache loaded; when it fails "
            "Kubernetes deletes the Pod and creates a new one. Leave the db out of liveness."
        ),
    ),
    (
        9,
        "smaller-attack-surface",
        (
            "Immutable images never change and the same one goes everywhere, so rollback is "
            "redeploying the old tag. A minimal image is mostly about pull speed; an attacker has"
            " the same attack surface as on a full Debian image."
        ),
    ),
]


def run(course: Course, cases: list[tuple[int, str, str]], name: str) -> None:
    counts: collections.Counter[str] = collections.Counter()
    for number, point_id, answer in cases:
        lesson = course.lessons[number - 1]
        (exercise,) = lesson.written
        feedback = grade(exercise, answer, lesson=lesson)
        status = next(p.status for p in feedback.points if p.id == point_id)
        counts[status] += 1
        print(f"{name} lesson {number:>2} {point_id:<22} {status:<12} score {feedback.score}")
    print(
        f"{name}: named point contradicted {counts['contradicted']}, covered "
        f"{counts['covered']} (praised), partial {counts['partial']}, missing "
        f"{counts['missing']} of {len(cases)}"
    )


def main() -> None:
    course, problems = parse_course(COURSE)
    assert course is not None, problems
    run(course, CASES, "A")
    run(course, CASES_B, "B")


if __name__ == "__main__":
    main()
