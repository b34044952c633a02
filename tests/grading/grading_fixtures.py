"""A lesson-9-like exercise and lesson, built with plain factories (no parser needed)."""

from __future__ import annotations

from learnloop.content.model import (
    Lesson,
    ProseBlock,
    RubricPoint,
    Section,
    SourceRef,
    WrittenExercise,
)

RUBRIC = (
    RubricPoint(
        "never-modified",
        "Immutable images are never changed after being built; any change means building a new "
        "image.",
        2,
    ),
    RubricPoint(
        "same-artifact",
        "The same tested image runs in every environment, which makes releases reproducible.",
        2,
    ),
    RubricPoint(
        "easy-rollback", "Immutability allows a rollback by redeploying the previous image version."
    ),
    RubricPoint(
        "smaller-attack-surface",
        "Minimal base images leave out shells, package managers and unused libraries, reducing "
        "the attack surface.",
        2,
    ),
    RubricPoint(
        "fewer-vulnerabilities",
        "Minimal images contain fewer packages with known vulnerabilities and are smaller and "
        "faster to pull.",
    ),
    RubricPoint(
        "no-environment-drift",
        "Bundling the app with its dependencies in one fixed image removes differences between "
        "dev, staging and production.",
        2,
    ),
)

MODEL_ANSWER = (
    "An immutable image is built once, tagged (or pinned by digest), and never changed "
    "afterwards. Any fix or configuration change produces a new image that goes through the same "
    "pipeline. Because of that, the exact artifact that passed the tests is the one that runs in "
    "production, every replica is identical, and a bad release can be rolled back simply by "
    "redeploying the previous image.\n\n"
    "A minimal or distroless base contains only the runtime the application needs. It has no "
    "shell, no package manager and far fewer libraries, so there are fewer known vulnerabilities "
    "to patch, scanners produce less noise, the image pulls and starts faster, and an attacker "
    "who gets code execution finds very few tools to work with.\n\n"
    "Together these remove environment drift. The application and all its dependencies travel in "
    "a single fixed artifact, so a developer laptop, the CI runner, staging and production all "
    "run the same bytes; only explicitly supplied configuration and secrets differ."
)

EXERCISE = WrittenExercise(
    id="check-understanding",
    prompt=(
        "Explain why keeping container images immutable matters for reliable software, and "
        "describe what security advantages a minimal base image has over a standard "
        "full-distribution one. Finish by explaining how these two ideas together remove "
        "differences between environments when you deploy."
    ),
    model_answer=MODEL_ANSWER,
    rubric=RUBRIC,
    min_words=40,
    max_words=400,
)

GOOD_ANSWER = (
    "Container images should be immutable: once an image is built it is never modified, and if "
    "you need to change a setting or patch a library you build a new image with a new tag. "
    "That way the exact image that passed the tests in CI is the one that runs in staging and "
    "production, so releases are reproducible. If a release is bad you roll back by redeploying "
    "the previous image. A minimal or distroless base image leaves out the shell, the package "
    "manager and libraries the app never uses, so an attacker has fewer tools and the attack "
    "surface is smaller. It also has fewer packages with known CVEs and is faster to pull. "
    "Because the app and all its dependencies ship together in one fixed image, there are no "
    "differences between dev, staging and production."
)

WEAK_ANSWER = "Containers are useful and popular. Many companies use them."

OFF_TOPIC_ANSWER = (
    "Photosynthesis is how plants turn sunlight, water and carbon dioxide into sugar and "
    "oxygen. It happens in the chloroplasts of leaf cells."
)

SECTION_TEXTS = {
    "containers-versus-vms-immutability-and-minimal-images": (
        "Containers versus VMs, immutability and minimal images",
        "A virtual machine pretends to be a whole computer. A hypervisor emulates CPUs, disks "
        "and network cards, and each VM boots its own operating system with its own kernel.\n\n"
        "A container takes a different shortcut. There is only one kernel, the host's, and each "
        "container is an ordinary process that the kernel fences off with namespaces and "
        "cgroups.\n\n"
        "The rule that makes the whole approach reliable is immutability: you never patch a "
        "running container or edit an image after it is built. To change a setting or bump a "
        "library you produce a new image with a new tag and roll it out. The bytes that passed "
        "your tests in CI are then exactly the bytes that run in staging and production.\n\n"
        "An image built on a full distribution often ships a shell, a package manager, "
        "compilers and hundreds of libraries the application never touches. Each of those is "
        "extra download time and extra code that scanners will flag and attackers can use.",
    ),
    "kubernetes-pods-replicasets-and-services": (
        "Kubernetes Pods, ReplicaSets and Services",
        "The smallest thing Kubernetes schedules is a Pod. A ReplicaSet keeps a chosen number "
        "of identical Pods alive. A Service gives Pods a stable virtual IP and DNS name.",
    ),
    "runtime-security-non-root-networkpolicies-and-secrets": (
        "Runtime security: non-root, NetworkPolicies and secrets",
        "Start by refusing root and trimming privileges in the Pod's securityContext. A "
        "NetworkPolicy lets you select a set of Pods and list the traffic they accept. Keep "
        "credentials out of manifests and images; store them in a Kubernetes Secret.",
    ),
    "observability-metrics-traces-and-correlation-ids": (
        "Observability: metrics, traces and correlation ids",
        "Metrics are cheap numeric time series. A trace follows one request through every "
        "service it touches. A correlation id is carried with the request everywhere it goes.",
    ),
}


def make_lesson() -> Lesson:
    sections = tuple(
        Section(id=sid, title=title, blocks=(ProseBlock(html=f"<p>{text}</p>", text=text),))
        for sid, (title, text) in SECTION_TEXTS.items()
    )
    return Lesson(
        number=9,
        title="Cloud Native Architecture and Containerization",
        slug="cloud-native-architecture",
        xp=125,
        minutes=16,
        minutes_estimated=False,
        summary="Pull the course together.",
        module_title="Cloud-native design",
        sections=sections,
        exercises=(EXERCISE,),
        source=SourceRef("courses/cloud-native/09-cloud-native-architecture.md", 1),
    )
