#!/usr/bin/env python3
"""Each check of check_deploy.py can fail: it is run on broken copies of the real rendered
manifests, compose model and Dockerfile, one fault at a time, and must name the fault. The
unbroken inputs must give no finding (the same run as the ctest test_deploy).

  python3 tests/deploy/test_check_deploy.py      (ctest: test_deploy_checker)
"""
import copy
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_deploy as cd  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OVERLAYS = os.path.join(ROOT, "deploy", "k8s", "overlays")


def find(docs, kind, name):
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def container(docs, kind, name, index=0):
    return cd.pod_spec(find(docs, kind, name))["containers"][index]


def configmap(docs, prefix):
    return next(d for d in docs if d["kind"] == "ConfigMap" and
                d["metadata"]["name"].startswith(prefix))


class K8s(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.prod = cd.kustomize(os.path.join(OVERLAYS, "prod"))
        cls.prod_ext = cd.external_secrets(os.path.join(OVERLAYS, "prod"))
        cls.dev = cd.kustomize(os.path.join(OVERLAYS, "dev"))

    def broken(self, fault, docs=None, external=None):
        """The findings on a copy of prod (or docs) after fault(copy) changed it."""
        docs = copy.deepcopy(self.prod if docs is None else docs)
        external = copy.deepcopy(self.prod_ext if external is None else external)
        fault(docs, external)
        return cd.check_k8s(docs, external)

    def assertFound(self, findings, *parts):
        hits = [f for f in findings if all(p in f for p in parts)]
        self.assertTrue(hits, f"no finding with {parts} in {findings}")

    def test_real_overlays_pass(self):
        models = cd.api_models()
        self.assertEqual(cd.check_k8s(self.prod, self.prod_ext, models), [])
        self.assertEqual(cd.check_k8s(self.dev, {}, models), [])

    def test_unknown_fields(self):
        models = cd.api_models()
        docs = copy.deepcopy(self.prod)
        spec = find(docs, "Service", "yard-broker")["spec"]
        spec["publishNotReadyAdresses"] = spec.pop("publishNotReadyAddresses")
        sc = container(docs, "Deployment", "yard-echo")["securityContext"]
        sc["readOnlyRootFileSystem"] = True
        find(docs, "HorizontalPodAutoscaler", "yard-echo")["spec"]["minReplica"] = 1
        found = cd.check_fields(docs, models)
        self.assertFound(found, "Service/yard-broker.spec.publishNotReadyAdresses",
                         "not a field of V1ServiceSpec")
        self.assertFound(found, "containers[0].securityContext.readOnlyRootFileSystem")
        self.assertFound(found, "HorizontalPodAutoscaler/yard-echo.spec.minReplica")
        self.assertEqual(len(found), 3, found)
        docs.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}})
        self.assertFound(cd.check_fields(docs, models), "Pod/x", "not a kind")

    def test_prod_has_what_the_issue_asks(self):
        kinds = {(d["kind"], d["metadata"]["name"]) for d in self.prod}
        for want in [("StatefulSet", "yard-broker"), ("Service", "yard-broker"),
                     ("Deployment", "yard-gateway"), ("Service", "yard-gateway"),
                     ("Ingress", "yard-gateway"), ("HorizontalPodAutoscaler", "yard-gateway"),
                     ("HorizontalPodAutoscaler", "yard-echo"),
                     ("PodDisruptionBudget", "yard-broker")]:
            self.assertIn(want, kinds)
        self.assertEqual(find(self.prod, "StatefulSet", "yard-broker")["spec"]["replicas"], 3)
        env = {e["name"]: e.get("value") for e in container(self.prod, "StatefulSet",
                                                             "yard-broker")["env"]}
        self.assertIn("YARD_CURVE_KEY", env)  # CURVE in prod
        self.assertNotIn("YARD_INSECURE", env)
        self.assertFalse([d for d in self.prod if d["kind"] == "Secret"],
                         "prod must make no Secret (they are made out of band)")

    def test_missing_probes(self):
        self.assertFound(self.broken(lambda d, e: container(d, "Deployment", "yard-gateway")
                                     .pop("livenessProbe")),
                         "Deployment/yard-gateway", "no livenessProbe")
        self.assertFound(self.broken(lambda d, e: container(d, "StatefulSet", "yard-broker")
                                     .pop("readinessProbe")),
                         "StatefulSet/yard-broker", "no readinessProbe")

    def test_probe_on_a_port_the_container_lacks(self):
        def fault(d, e):
            container(d, "Deployment", "yard-gateway")["readinessProbe"]["httpGet"]["port"] = "web"
        self.assertFound(self.broken(fault), "readinessProbe probes port 'web'")

    def test_actor_probe_asks_for_its_own_replica(self):
        def other(d, e):
            cmd = container(d, "Deployment", "yard-auth")["livenessProbe"]["exec"]["command"]
            cmd[cmd.index("auth")] = "echo"
        self.assertFound(self.broken(other), "yard-auth", "livenessProbe",
                         "yard ping --service auth")

        def anywhere(d, e):
            container(d, "Deployment", "yard-echo")["readinessProbe"]["exec"]["command"].remove(
                "--local")
        self.assertFound(self.broken(anywhere), "yard-echo", "not this pod's")

    def test_resources(self):
        def no_limit(d, e):
            del container(d, "Deployment", "yard-echo")["resources"]["limits"]["memory"]
        self.assertFound(self.broken(no_limit), "yard-echo", "no memory in resources.limits")

        def above(d, e):
            container(d, "Deployment", "yard-echo")["resources"]["requests"]["cpu"] = "4"
        self.assertFound(self.broken(above), "cpu request 4 is above its limit")

    def test_security_context(self):
        def sc(d):
            return container(d, "Deployment", "yard-auth")["securityContext"]
        self.assertFound(self.broken(lambda d, e: sc(d).update(readOnlyRootFilesystem=False)),
                         "yard-auth", "readOnlyRootFilesystem")
        self.assertFound(self.broken(lambda d, e: sc(d).pop("allowPrivilegeEscalation")),
                         "allowPrivilegeEscalation")
        self.assertFound(self.broken(lambda d, e: sc(d).update(capabilities={"drop": []})),
                         "capabilities.drop")

        def root(d, e):
            sc(d).pop("runAsNonRoot")
            cd.pod_spec(find(d, "Deployment", "yard-auth"))["securityContext"].pop("runAsNonRoot")
        self.assertFound(self.broken(root), "yard-auth", "runAsNonRoot")

    def test_missing_secret_and_key(self):
        def rename(d, e):
            for v in cd.pod_spec(find(d, "Deployment", "yard-auth"))["volumes"]:
                if "secret" in v:
                    v["secret"]["secretName"] = "yard-auth-admn"
        self.assertFound(self.broken(rename), "Secret 'yard-auth-admn'", "does not exist")
        self.assertFound(self.broken(lambda d, e: e["yard-redis"].discard("url")),
                         "key 'url' of Secret 'yard-redis'")
        self.assertFound(self.broken(lambda d, e: e.pop("yard-gateway-tls")),
                         "Ingress/yard-gateway tls", "yard-gateway-tls")

    def test_missing_configmap_and_key(self):
        self.assertFound(self.broken(lambda d, e: d.remove(configmap(d, "yard-bus-"))),
                         "ConfigMap 'yard-bus-", "does not exist")

        def key(d, e):
            for env in container(d, "Deployment", "yard-echo")["env"]:
                if env["name"] == "YARD_BROKER":
                    env["valueFrom"]["configMapKeyRef"]["key"] = "BROKERS"
        self.assertFound(self.broken(key), "key 'BROKERS' of ConfigMap")

    def test_volume_mount_without_volume(self):
        def fault(d, e):
            container(d, "Deployment", "yard-echo")["volumeMounts"][0]["name"] = "cfg"
        self.assertFound(self.broken(fault), "mounts volume 'cfg'")

    def test_services(self):
        def svcname(d, e):
            find(d, "StatefulSet", "yard-broker")["spec"]["serviceName"] = "brokers"
        self.assertFound(self.broken(svcname), "serviceName 'brokers' is not a Service")
        self.assertFound(self.broken(lambda d, e: find(d, "Service", "yard-broker")["spec"]
                                     .pop("clusterIP")), "not headless")

        def selector(d, e):
            find(d, "Service", "yard-gateway")["spec"]["selector"] = {"app": "gw"}
        self.assertFound(self.broken(selector), "Service/yard-gateway", "matches no workload")

        def backend(d, e):
            path = find(d, "Ingress", "yard-gateway")["spec"]["rules"][0]["http"]["paths"][0]
            path["backend"]["service"]["name"] = "yard-gw"
        self.assertFound(self.broken(backend), "backend Service 'yard-gw' does not exist")

        def port(d, e):
            path = find(d, "Ingress", "yard-gateway")["spec"]["rules"][0]["http"]["paths"][0]
            path["backend"]["service"]["port"] = {"name": "https"}
        self.assertFound(self.broken(port), "has no port")

    def test_broker_list_against_replicas(self):
        def more(d, e):
            find(d, "StatefulSet", "yard-broker")["spec"]["replicas"] = 4
        self.assertFound(self.broken(more), "misses ['yard-broker-3.yard-broker']")

        def fewer(d, e):
            find(d, "StatefulSet", "yard-broker")["spec"]["replicas"] = 2
        self.assertFound(self.broken(fewer), "names ['yard-broker-2.yard-broker']", "no pod")

        def port(d, e):
            cm = configmap(d, "yard-bus-")
            cm["data"]["YARD_BROKER"] = cm["data"]["YARD_BROKER"].replace(":5555", ":5556", 1)
        self.assertFound(self.broken(port), "uses port 5556")

        def dev_list(d, e):  # the base's two brokers, on dev's one
            cm = configmap(d, "yard-bus-")
            cm["data"]["YARD_BROKER"] += ",tcp://yard-broker-1.yard-broker:5555"
        self.assertFound(self.broken(dev_list, docs=self.dev, external={}),
                         "names ['yard-broker-1.yard-broker']")

    def test_broker_list_from_the_config_file(self):
        def no_env(d, e):
            c = container(d, "Deployment", "yard-gateway")
            c["env"] = [x for x in c["env"] if x["name"] != "YARD_BROKER"]
        self.assertFound(self.broken(no_env, docs=self.dev, external={}),
                         "Deployment/yard-gateway", "gets no broker list")

        def in_file(d, e):  # the file's broker: key counts when the environment gives none
            no_env(d, e)
            cm = configmap(d, "yard-config-")
            cm["data"]["yard.yaml"] += "\nbroker: tcp://yard-broker-0.yard-broker:5555\n"
        self.assertEqual(self.broken(in_file, docs=self.dev, external={}), [])

        def wrong_file(d, e):
            no_env(d, e)
            cm = configmap(d, "yard-config-")
            cm["data"]["yard.yaml"] += "\nbroker: tcp://127.0.0.1:5555\n"
        self.assertFound(self.broken(wrong_file, docs=self.dev, external={}),
                         "Deployment/yard-gateway", "names ['127.0.0.1']")

    def test_hpa_and_pdb(self):
        def target(d, e):
            find(d, "HorizontalPodAutoscaler", "yard-echo")["spec"]["scaleTargetRef"]["name"] = "x"
        self.assertFound(self.broken(target), "target Deployment/x does not exist")
        self.assertFound(self.broken(lambda d, e: d.remove(find(d, "HorizontalPodAutoscaler",
                                                               "yard-echo"))),
                         "Deployment/yard-echo", "without a HorizontalPodAutoscaler")

        def brokers(d, e):
            find(d, "HorizontalPodAutoscaler", "yard-echo")["spec"]["scaleTargetRef"].update(
                kind="StatefulSet", name="yard-broker")
        self.assertFound(self.broken(brokers), "scales the brokers")

        def stateful(d, e):
            find(d, "HorizontalPodAutoscaler", "yard-echo")["spec"]["scaleTargetRef"]["name"] = \
                "yard-auth"
        self.assertFound(self.broken(stateful), "stateful actor(s) ['auth']")

        def pdb(d, e):
            find(d, "PodDisruptionBudget", "yard-broker")["spec"]["selector"] = {
                "matchLabels": {"app.kubernetes.io/name": "broker"}}
        found = self.broken(pdb)
        self.assertFound(found, "PodDisruptionBudget/yard-broker", "matches no workload")
        self.assertFound(found, "StatefulSet/yard-broker", "no PodDisruptionBudget")

    def test_kubectl_missing_is_named(self):
        path = os.environ.get("PATH", "")
        os.environ["PATH"] = ""
        try:
            with self.assertRaisesRegex(cd.ToolMissing, "kubectl.*install-deps"):
                cd.kustomize(os.path.join(OVERLAYS, "dev"))
        finally:
            os.environ["PATH"] = path


class Compose(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = cd.compose_model(os.path.join(ROOT, "deploy", "compose.yaml"))

    def broken(self, fault):
        m = copy.deepcopy(self.model)
        fault(m["services"])
        return cd.check_compose(m)

    def assertFound(self, findings, *parts):
        self.assertTrue([f for f in findings if all(p in f for p in parts)],
                        f"no finding with {parts} in {findings}")

    def test_real_file_passes(self):
        self.assertEqual(cd.check_compose(self.model), [])
        # Every part the issue names is a service; the credential actors are optional.
        for name in ("broker", "echo", "auth", "scheduler", "gateway", "redis"):
            self.assertIn(name, self.model["services"])
        for name in ("telegram", "gmail", "dns"):
            self.assertTrue(self.model["services"][name].get("profiles"), name)

    def test_faults(self):
        self.assertFound(self.broken(lambda s: s["echo"].update(read_only=False)),
                         "service echo", "read_only")
        self.assertFound(self.broken(lambda s: s["gateway"].update(user="0:0")),
                         "service gateway", "non-root")
        self.assertFound(self.broken(lambda s: s["broker"].pop("cap_drop")),
                         "service broker", "cap_drop")
        self.assertFound(self.broken(lambda s: s["auth"].pop("security_opt")),
                         "service auth", "no-new-privileges")
        self.assertFound(self.broken(lambda s: s["redis"].pop("healthcheck")),
                         "service redis", "no healthcheck")
        self.assertFound(self.broken(lambda s: s["scheduler"]["environment"].update(
            YARD_BROKER="tcp://127.0.0.1:5555")), "service scheduler", "YARD_BROKER")
        self.assertFound(self.broken(lambda s: s["broker"].update(ports=["5555:5555"])),
                         "service broker", "publishes ports")
        self.assertFound(self.broken(lambda s: s["auth"].update(secrets=["nope"])),
                         "secret 'nope' is not defined")

    def test_compose_refuses_a_bad_file(self):
        with open(os.path.join(ROOT, "deploy", "compose.yaml"), encoding="utf-8") as f:
            text = f.read()
        tmp = tempfile.mkdtemp()
        try:
            shutil.copy(os.path.join(ROOT, "deploy", "yard.yaml"), tmp)
            path = os.path.join(tmp, "compose.yaml")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text.replace("    read_only: true\n", "    read_only: sometimes\n", 1))
            with self.assertRaisesRegex(RuntimeError, "docker-compose config"):
                cd.compose_model(path)
        finally:
            shutil.rmtree(tmp)


class Dockerfile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        def read(rel):
            with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
                return f.read()
        cls.text, cls.deps, cls.ignore = (read("Dockerfile"), read("scripts/install-deps.sh"),
                                          read(".dockerignore"))

    def check(self, text=None, deps=None, ignore=""):
        return cd.check_dockerfile(self.text if text is None else text,
                                   self.deps if deps is None else deps,
                                   self.ignore if ignore == "" else ignore)

    def assertFound(self, findings, *parts):
        self.assertTrue([f for f in findings if all(p in f for p in parts)],
                        f"no finding with {parts} in {findings}")

    def test_real_file_passes(self):
        self.assertEqual(self.check(), [])

    def test_faults(self):
        last = self.text.rindex("FROM ")
        self.assertFound(self.check(text=self.text[last:]), "not multi-stage")
        self.assertFound(self.check(text=self.text.replace("USER 10001:10001", "")),
                         "sets no USER")
        self.assertFound(self.check(text=self.text.replace("USER 10001:10001", "USER yard")),
                         "not a fixed non-root UID")
        self.assertFound(self.check(text=self.text.replace("USER 10001:10001", "USER 0")),
                         "not a fixed non-root UID")
        self.assertFound(self.check(text=self.text.replace("FROM debian:bookworm-slim AS runtime",
                                                           "FROM ubuntu:24.04 AS runtime")),
                         "not on Debian bookworm")
        self.assertFound(self.check(text=self.text + "ENV YARD_TELEGRAM_TOKEN=123:abc\n"),
                         "ENV YARD_TELEGRAM_TOKEN", "secret")
        self.assertFound(self.check(text=self.text + "COPY deploy/secrets/ /run/secrets/\n"),
                         "copies what looks like a secret")
        self.assertFound(self.check(text=self.text.replace("libcurl4 ca-certificates",
                                                           "libcurl4 libzmq3-dev ca-certificates")),
                         "final stage installs the build package libzmq3-dev")
        self.assertFound(self.check(deps=self.deps.replace("libczmq-dev", "")),
                         "libczmq-dev", "install-deps.sh")
        self.assertFound(self.check(text=self.text.replace(" yard-gateway yard_cli", " yard_cli")),
                         "does not build yard-gateway")
        self.assertFound(self.check(text=self.text.replace("COPY --from=build", "COPY")),
                         "copies nothing from the build stage")
        self.assertFound(self.check(ignore=None), ".dockerignore is missing")

    def test_runtime_libraries(self):
        needed = {"libsodium.so.23": "libsodium23", "libc.so.6": "libc6",
                  "libnats.so.3.4": "libnats3.4", "libfoo.so.1": None}
        found = cd.check_image_libraries(self.text, needed)
        self.assertEqual(len(found), 1, found)
        self.assertFound(found, "no Debian package found for libfoo.so.1")
        found = cd.check_image_libraries(self.text.replace(" libsodium23 ", " "), needed)
        self.assertFound(found, "libsodium.so.23", "libsodium23", "does not install")
        # libsodium23 only in the build stage is not enough
        build_only = self.text.replace(" libsodium23 ", " ").replace(
            "build-essential cmake", "build-essential libsodium23 cmake")
        self.assertFound(cd.check_image_libraries(build_only, needed), "libsodium23")

    def test_built_programs_libraries(self):
        bin_dir = os.environ.get("YARD_BIN_DIR")
        needed = cd.needed_packages(bin_dir) if bin_dir else None
        if needed is None:
            self.skipTest("the programs are not built (YARD_BIN_DIR)")
        self.assertIn("libzmq5", needed.values())
        self.assertEqual(cd.check_image_libraries(self.text, needed), [])
        self.assertFound(self.check(ignore="/build*\n"), "does not exclude .git")


if __name__ == "__main__":
    unittest.main(verbosity=1)
