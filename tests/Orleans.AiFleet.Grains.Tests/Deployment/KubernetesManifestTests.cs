using System.Diagnostics;
using System.Text.RegularExpressions;
using k8s;
using k8s.Models;

namespace Orleans.AiFleet.Grains.Tests.Deployment;

/// <summary>
/// k8s/ validated offline: <c>kubectl kustomize k8s/</c> renders, every object parses strictly against the
/// Kubernetes schema (KubernetesClient: unknown fields and wrong types fail), and the objects agree with each other
/// and with the silo's configuration contract. The security checks: no secret value in k8s/ (the operator creates the
/// Secrets), locked-down pods and containers with requests and limits, network policies that let only the pods that
/// need a port reach it, and a silo role that only reads pods.
/// </summary>
public sealed partial class KubernetesManifestTests
{
    private const string NameLabel = "app.kubernetes.io/name";

    private static readonly Lazy<IReadOnlyList<object>> Objects = new(Render);

    /// <summary>The Secrets the operator creates before the first apply (kustomization.yaml), by name and key.</summary>
    private static readonly (string Secret, string Key)[] OperatorSecrets = [("client-api", "admin-key"), ("postgres", "password"), ("redis", "password")];

    [Fact]
    public void Kustomize_RendersEveryObjectOfTheDeployment_StrictlyParsed()
    {
        var kinds = Objects.Value.Select(o => ((IKubernetesObject)o).Kind).Order().ToArray();

        Assert.Equal(
            ["ConfigMap", "Deployment", "Deployment", "HorizontalPodAutoscaler", "Job", "Namespace",
             "NetworkPolicy", "NetworkPolicy", "NetworkPolicy", "NetworkPolicy", "NetworkPolicy", "PodDisruptionBudget",
             "Role", "RoleBinding", "Service", "Service", "Service", "ServiceAccount", "StatefulSet", "StatefulSet"],
            kinds);
        Assert.All(Objects.Value.OfType<IMetadata<V1ObjectMeta>>().Where(o => o is not V1Namespace),
            o => Assert.Equal("aifleet", o.Metadata.NamespaceProperty));
    }

    [Fact]
    public void Silo_GetsPodIdentityFromTheDownwardApi_AndLabelsMatchItsClusterIds()
    {
        var silo = Deployment("silo").Spec.Template;
        var env = silo.Spec.Containers.Single().Env.ToDictionary(e => e.Name);

        Assert.Equal("metadata.name", env["POD_NAME"].ValueFrom.FieldRef.FieldPath);
        Assert.Equal("metadata.namespace", env["POD_NAMESPACE"].ValueFrom.FieldRef.FieldPath);
        Assert.Equal("status.podIP", env["POD_IP"].ValueFrom.FieldRef.FieldPath);
        Assert.Equal("$(POD_IP)", env["AIFLEET__CLUSTER__ADVERTISEDADDRESS"].Value);
        Assert.Equal(env["ORLEANS_SERVICE_ID"].Value, silo.Metadata.Labels["orleans/serviceId"]);
        Assert.Equal(env["ORLEANS_CLUSTER_ID"].Value, silo.Metadata.Labels["orleans/clusterId"]);
        Assert.NotNull(env["AIFLEET__CLUSTER__POSTGRES"].Value);
        Assert.NotNull(env["AIFLEET__CLUSTER__REDIS"].Value);

        var models = silo.Spec.Containers.Single().VolumeMounts.Single(m => m.Name == "models");
        Assert.Equal(env["AIFLEET__MODELS__PATH"].Value, models.MountPath);
        Assert.Contains(silo.Spec.Volumes, v => v.Name == "models");
    }

    [Theory]
    [InlineData("silo", "metrics")]
    [InlineData("client-api", "http")]
    public void Pods_ExportMetricsOnThePortTheirScrapeAnnotationsName(string deployment, string portName)
    {
        var pod = Deployment(deployment).Spec.Template;
        var container = pod.Spec.Containers.Single();
        var port = container.Ports.Single(p => p.Name == portName).ContainerPort.ToString(System.Globalization.CultureInfo.InvariantCulture);

        if (deployment == "silo")
        {
            Assert.Equal(port, container.Env.Single(e => e.Name == "AIFLEET__METRICS__PORT").Value);
        }

        Assert.Equal("true", pod.Metadata.Annotations["prometheus.io/scrape"]);
        Assert.Equal(port, pod.Metadata.Annotations["prometheus.io/port"]);
        Assert.Equal("/metrics", pod.Metadata.Annotations["prometheus.io/path"]);
    }

    [Fact]
    public void Silo_ServiceAccount_IsBoundToARoleThatOnlyReadsAndWatchesPods()
    {
        var spec = Deployment("silo").Spec.Template.Spec;
        var account = spec.ServiceAccountName;
        var binding = Objects.Value.OfType<V1RoleBinding>().Single(b => b.Subjects.Any(s => s.Kind == "ServiceAccount" && s.Name == account));
        var role = Objects.Value.OfType<V1Role>().Single(r => r.Metadata.Name == binding.RoleRef.Name);

        // Kubernetes hosting reads its pod, lists and watches the silo pods. It patches its pod only when the pod's
        // orleans/* labels differ from its ids (the test above keeps them equal) and deletes pods only with
        // DeleteDefunctSiloPods (off; turning it on would add exactly "delete"): get, list and watch on pods, no more.
        var pods = Assert.Single(role.Rules);
        Assert.Equal([""], pods.ApiGroups);
        Assert.Equal(["pods"], pods.Resources);
        Assert.Equal(["get", "list", "watch"], pods.Verbs.Order(StringComparer.Ordinal));
        Assert.Contains(Objects.Value.OfType<V1ServiceAccount>(), a => a.Metadata.Name == account);
        Assert.True(spec.AutomountServiceAccountToken, "the silo needs its service account token for Kubernetes hosting");
    }

    [Fact]
    public void EveryPodButTheSilos_MountsNoServiceAccountToken()
    {
        foreach (var (name, template, _) in Pods().Where(p => p.Name != "silo"))
        {
            Assert.True(template.Spec.AutomountServiceAccountToken == false, $"{name} mounts a service account token");
        }
    }

    [Fact]
    public void EveryLongRunningContainer_HasReadinessAndLivenessProbes_AndResourceRequests()
    {
        var pods = Objects.Value.OfType<V1Deployment>().Select(d => (d.Metadata.Name, d.Spec.Template.Spec))
            .Concat(Objects.Value.OfType<V1StatefulSet>().Select(s => (s.Metadata.Name, s.Spec.Template.Spec)));

        foreach (var (name, spec) in pods)
        {
            foreach (var container in spec.Containers)
            {
                Assert.True(container.ReadinessProbe is not null, $"{name}/{container.Name} has no readiness probe");
                Assert.True(container.LivenessProbe is not null, $"{name}/{container.Name} has no liveness probe");
                Assert.True(container.Resources?.Requests?.ContainsKey("cpu") == true, $"{name}/{container.Name} requests no CPU");
            }
        }
    }

    [Fact]
    public void EveryContainer_IncludingInitAndJobContainers_HasCpuAndMemoryRequestsAndLimits()
    {
        foreach (var (name, template, _) in Pods())
        {
            foreach (var container in AllContainers(template.Spec))
            {
                foreach (var resource in new[] { "cpu", "memory" })
                {
                    Assert.True(container.Resources?.Requests?.ContainsKey(resource) == true, $"{name}/{container.Name} requests no {resource}");
                    Assert.True(container.Resources?.Limits?.ContainsKey(resource) == true, $"{name}/{container.Name} has no {resource} limit");
                }
            }
        }
    }

    [Fact]
    public void EveryPod_RunsAsItsImagesNonRootUser_WithTheRuntimeDefaultSeccompProfile()
    {
        // The .NET images' app user is 1654 ($APP_UID); the official postgres and redis images' users are 999.
        var users = new Dictionary<string, long>
        {
            ["client-api"] = 1654,
            ["silo"] = 1654,
            ["postgres"] = 999,
            ["redis"] = 999,
            ["membership-schema"] = 999,
        };

        Assert.Equal(users.Keys.Order(StringComparer.Ordinal), Pods().Select(p => p.Name).Order(StringComparer.Ordinal));
        foreach (var (name, template, _) in Pods())
        {
            var pod = template.Spec.SecurityContext;
            Assert.True(pod is not null, $"{name} has no pod securityContext");
            Assert.True(pod.RunAsNonRoot == true, $"{name} may run as root");
            Assert.Equal<long?>(users[name], pod.RunAsUser);
            Assert.Equal<long?>(users[name], pod.RunAsGroup);
            Assert.Equal<long?>(users[name], pod.FsGroup);
            Assert.Equal("RuntimeDefault", pod.SeccompProfile?.Type);
        }
    }

    [Fact]
    public void EveryContainer_IncludingInitAndJobContainers_IsReadOnlyUnprivilegedAndDropsAllCapabilities()
    {
        foreach (var (name, template, _) in Pods())
        {
            foreach (var container in AllContainers(template.Spec))
            {
                var at = $"{name}/{container.Name}";
                var context = container.SecurityContext;
                Assert.True(context is not null, $"{at} has no securityContext");
                Assert.True(context.AllowPrivilegeEscalation == false, $"{at} allows privilege escalation");
                Assert.True(context.ReadOnlyRootFilesystem == true, $"{at} can write its root filesystem");
                Assert.Equal(["ALL"], context.Capabilities?.Drop ?? []);
                Assert.Empty(context.Capabilities?.Add ?? []);
                Assert.True(context.Privileged != true, $"{at} is privileged");

                // Container settings override the pod's: none may undo them.
                Assert.True(context.RunAsNonRoot != false, $"{at} may run as root");
                Assert.True(context.RunAsUser != 0, $"{at} runs as root");
                Assert.True(context.SeccompProfile is null or { Type: "RuntimeDefault" }, $"{at} overrides the seccomp profile");
            }
        }
    }

    [Fact]
    public void ReadOnlyRootFilesystems_GetVolumesForEveryPathTheProcessesWrite()
    {
        // .NET writes /tmp (diagnostics); PostgreSQL its data, its socket directory and /tmp; Redis its data.
        (string Pod, string Container, string Path)[] writable =
        [
            ("client-api", "client-api", "/tmp"),
            ("silo", "models", "/models"),
            ("silo", "silo", "/tmp"),
            ("postgres", "postgres", "/var/lib/postgresql/data"),
            ("postgres", "postgres", "/var/run/postgresql"),
            ("postgres", "postgres", "/tmp"),
            ("redis", "redis", "/data"),
            ("membership-schema", "apply", "/tmp"),
        ];
        var pods = Pods().ToDictionary(p => p.Name);
        var failures = new List<string>();

        foreach (var (pod, containerName, path) in writable)
        {
            var (_, template, claims) = pods[pod];
            var container = AllContainers(template.Spec).Single(c => c.Name == containerName);
            var mount = (container.VolumeMounts ?? []).SingleOrDefault(m => m.MountPath == path);
            var emptyDir = (template.Spec.Volumes ?? []).Where(v => v.EmptyDir is not null).Select(v => v.Name);
            if (mount is null)
            {
                failures.Add($"{pod}/{containerName} mounts nothing at {path}");
            }
            else if (mount.ReadOnlyProperty == true)
            {
                failures.Add($"{pod}/{containerName} mounts {path} read-only");
            }
            else if (!emptyDir.Concat(claims).Contains(mount.Name))
            {
                failures.Add($"{pod}/{containerName}: {path} is neither an emptyDir nor a persistent volume");
            }
        }

        Assert.Empty(failures);

        var pgdata = pods["postgres"].Template.Spec.Containers.Single().Env.Single(e => e.Name == "PGDATA").Value;
        Assert.StartsWith("/var/lib/postgresql/data/", pgdata, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_HoldsNoSecret_AndNoFileInK8sHoldsAPlaceholderCredential()
    {
        Assert.Empty(Objects.Value.OfType<V1Secret>());

        string[] placeholders = ["change-me", "changeme"];
        var offending = Directory.EnumerateFiles(Path.Combine(RepositoryRoot, "k8s"), "*", SearchOption.AllDirectories)
            .Where(file => placeholders.Any(p => File.ReadAllText(file).Contains(p, StringComparison.OrdinalIgnoreCase)))
            .Select(file => Path.GetRelativePath(RepositoryRoot, file));
        Assert.Empty(offending);
    }

    [Fact]
    public void EnvironmentVariablesHoldingCredentials_ComeFromSecrets_NeverFromLiterals()
    {
        var failures = new List<string>();
        foreach (var (name, template, _) in Pods())
        {
            foreach (var container in AllContainers(template.Spec))
            {
                foreach (var variable in container.Env ?? [])
                {
                    var at = $"{name}/{container.Name} {variable.Name}";
                    var credential = variable.Name.EndsWith("PASSWORD", StringComparison.Ordinal) || variable.Name.EndsWith("ADMINKEY", StringComparison.Ordinal);
                    if (credential && variable.ValueFrom?.SecretKeyRef is null)
                    {
                        failures.Add($"{at} is not read from a secret");
                    }

                    if (variable.Name is "REDISCLI_AUTH" && variable.Value != "$(REDIS_PASSWORD)")
                    {
                        failures.Add($"{at} is not $(REDIS_PASSWORD)");
                    }

                    // Passwords inside connection strings are the kubelet's $(VAR) substitutions of secret-backed variables.
                    foreach (Match password in ConnectionStringPassword().Matches(variable.Value ?? ""))
                    {
                        if (!PasswordReference().IsMatch(password.Groups[1].Value))
                        {
                            failures.Add($"{at} holds a literal password");
                        }
                    }
                }
            }
        }

        Assert.Empty(failures);
    }

    [Fact]
    public void VariableReferences_NameVariablesDefinedEarlierInTheSameContainer()
    {
        // The kubelet passes a $(VAR) it cannot resolve on literally: a connection string would hold "$(VAR)".
        var failures = new List<string>();
        foreach (var (name, template, _) in Pods())
        {
            foreach (var container in AllContainers(template.Spec))
            {
                var defined = new HashSet<string>(StringComparer.Ordinal);
                foreach (var variable in container.Env ?? [])
                {
                    var undefined = VariableReference().Matches(variable.Value ?? "").Select(m => m.Groups[1].Value).Where(v => !defined.Contains(v));
                    failures.AddRange(undefined.Select(v => $"{name}/{container.Name} {variable.Name} uses $({v}) before it is defined"));
                    defined.Add(variable.Name);
                }

                var undefinedInArgs = (container.Args ?? []).SelectMany(a => VariableReference().Matches(a)).Select(m => m.Groups[1].Value).Where(v => !defined.Contains(v));
                failures.AddRange(undefinedInArgs.Select(v => $"{name}/{container.Name} args use $({v}), which its env does not define"));
            }
        }

        Assert.Empty(failures);
    }

    [Fact]
    public void SecretReferences_NameTheOperatorsSecrets_AndKustomizationDocumentsHowToCreateThem()
    {
        var references = Pods().SelectMany(p => AllContainers(p.Template.Spec)).SelectMany(c => c.Env ?? [])
            .Select(e => e.ValueFrom?.SecretKeyRef).OfType<V1SecretKeySelector>().ToArray();

        Assert.All(references, r => Assert.True(r.Optional == false, $"secret reference {r.Name}/{r.Key} is not optional: false"));
        Assert.Equal(OperatorSecrets, references.Select(r => (Secret: r.Name, r.Key)).Distinct().Order());
        Assert.Empty(Objects.Value.OfType<V1Secret>());

        var kustomization = File.ReadAllText(Path.Combine(RepositoryRoot, "k8s", "kustomization.yaml"));
        foreach (var (secret, key) in OperatorSecrets)
        {
            Assert.Contains($"kubectl -n aifleet create secret generic {secret} --from-literal={key}=\"$(openssl rand -hex 32)\"", kustomization, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void EveryClientApiPod_AcceptsTheSameAdminKey_FromASecret()
    {
        var env = Deployment("client-api").Spec.Template.Spec.Containers.Single().Env.ToDictionary(e => e.Name);

        Assert.Equal(("client-api", "admin-key"), (env["AIFLEET__AUTH__ADMINKEY"].ValueFrom.SecretKeyRef.Name, env["AIFLEET__AUTH__ADMINKEY"].ValueFrom.SecretKeyRef.Key));
        Assert.Null(env["AIFLEET__AUTH__ADMINKEY"].Value);
    }

    [Fact]
    public void Redis_RequiresThePassword_AndTheSilosConnectWithIt()
    {
        var redis = Objects.Value.OfType<V1StatefulSet>().Single(s => s.Metadata.Name == "redis").Spec.Template.Spec.Containers.Single();
        var redisEnv = redis.Env.ToDictionary(e => e.Name);
        var requirepass = redis.Args.IndexOf("--requirepass");
        Assert.True(requirepass >= 0, "redis-server is started without --requirepass");
        Assert.Equal("$(REDIS_PASSWORD)", redis.Args[requirepass + 1]);
        Assert.Equal(("redis", "password"), (redisEnv["REDIS_PASSWORD"].ValueFrom.SecretKeyRef.Name, redisEnv["REDIS_PASSWORD"].ValueFrom.SecretKeyRef.Key));
        Assert.Equal("$(REDIS_PASSWORD)", redisEnv["REDISCLI_AUTH"].Value);

        var service = Objects.Value.OfType<V1Service>().Single(s => s.Metadata.Name == "redis").Spec.Ports.Single();
        var silo = Deployment("silo").Spec.Template.Spec.Containers.Single().Env.ToDictionary(e => e.Name);
        Assert.Equal($"redis:{service.Port},password=$(REDIS_PASSWORD)", silo["AIFLEET__CLUSTER__REDIS"].Value);
        Assert.Equal(("redis", "password"), (silo["REDIS_PASSWORD"].ValueFrom.SecretKeyRef.Name, silo["REDIS_PASSWORD"].ValueFrom.SecretKeyRef.Key));
    }

    [Fact]
    public void PostgresClients_ConnectWithTheDatabasesOwnUserDatabaseAndPassword()
    {
        var postgres = Objects.Value.OfType<V1StatefulSet>().Single(s => s.Metadata.Name == "postgres").Spec.Template.Spec.Containers.Single()
            .Env.ToDictionary(e => e.Name);
        var port = Objects.Value.OfType<V1Service>().Single(s => s.Metadata.Name == "postgres").Spec.Ports.Single().Port;
        Assert.Equal(("postgres", "password"), (postgres["POSTGRES_PASSWORD"].ValueFrom.SecretKeyRef.Name, postgres["POSTGRES_PASSWORD"].ValueFrom.SecretKeyRef.Key));

        foreach (var workload in new[] { "silo", "client-api" })
        {
            var env = Deployment(workload).Spec.Template.Spec.Containers.Single().Env.ToDictionary(e => e.Name);
            var connection = env["AIFLEET__CLUSTER__POSTGRES"].Value.Split(';').Order(StringComparer.Ordinal);
            Assert.Equal(
                new[]
                {
                    "Host=postgres",
                    $"Port={port}",
                    $"Username={postgres["POSTGRES_USER"].Value}",
                    "Password=$(POSTGRES_PASSWORD)",
                    $"Database={postgres["POSTGRES_DB"].Value}",
                }.Order(StringComparer.Ordinal),
                connection);
            Assert.Equal(("postgres", "password"), (env["POSTGRES_PASSWORD"].ValueFrom.SecretKeyRef.Name, env["POSTGRES_PASSWORD"].ValueFrom.SecretKeyRef.Key));
        }

        var job = Objects.Value.OfType<V1Job>().Single().Spec.Template.Spec.Containers.Single().Env.ToDictionary(e => e.Name);
        Assert.Equal(postgres["POSTGRES_USER"].Value, job["PGUSER"].Value);
        Assert.Equal(postgres["POSTGRES_DB"].Value, job["PGDATABASE"].Value);
        Assert.Equal(("postgres", "password"), (job["PGPASSWORD"].ValueFrom.SecretKeyRef.Name, job["PGPASSWORD"].ValueFrom.SecretKeyRef.Key));
    }

    [Fact]
    public void NetworkPolicies_DenyAllIngressInTheNamespaceByDefault()
    {
        var deny = Assert.Single(Objects.Value.OfType<V1NetworkPolicy>(), p =>
            (p.Spec.PodSelector.MatchLabels ?? new Dictionary<string, string>()).Count == 0 && (p.Spec.PodSelector.MatchExpressions ?? []).Count == 0);

        Assert.Equal(["Ingress"], deny.Spec.PolicyTypes);
        Assert.Empty(deny.Spec.Ingress ?? []);
    }

    [Fact]
    public void NetworkPolicies_LetOnlyThePodsThatNeedAPort_ReachIt()
    {
        var pods = Pods().ToDictionary(p => p.Name, p => p.Template);
        string Port(string pod, string name) => $"TCP/{pods[pod].Spec.Containers.SelectMany(c => c.Ports ?? []).Single(p => p.Name == name).ContainerPort}";

        var expected = new Dictionary<string, string[]>
        {
            ["client-api"] = [$"* -> {Port("client-api", "http")}"],
            ["silo"] = [$"client-api -> {Port("silo", "gateway")}", $"silo -> {Port("silo", "silo")}", $"* -> {Port("silo", "metrics")}"], // metrics: your Prometheus
            ["redis"] = [$"silo -> {Port("redis", "redis")}"],
            ["postgres"] = [$"client-api -> {Port("postgres", "postgres")}", $"membership-schema -> {Port("postgres", "postgres")}", $"silo -> {Port("postgres", "postgres")}"],
            ["membership-schema"] = [],
        };

        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), pods.Keys.Order(StringComparer.Ordinal));
        foreach (var (pod, allowed) in expected)
        {
            Assert.Equal(allowed.Order(StringComparer.Ordinal), AllowedIngress(pods[pod]).Order(StringComparer.Ordinal));
        }
    }

    [Fact]
    public void ConfigMapReference_Resolves_AndTheSchemaJobAppliesDbAsItIs()
    {
        var job = Objects.Value.OfType<V1Job>().Single();
        var schema = job.Spec.Template.Spec.Volumes.Single(v => v.ConfigMap is not null).ConfigMap.Name;
        var map = Objects.Value.OfType<V1ConfigMap>().Single(c => c.Metadata.Name == schema);
        var file = Path.Combine(RepositoryRoot, "db", "001_membership.sql");
        Assert.True(map.Data["001_membership.sql"] == File.ReadAllText(file),
            "k8s/postgres/001_membership.sql differs from db/001_membership.sql: copy db/ into k8s/postgres/");
    }

    [Fact]
    public void DisruptionBudgetAndAutoscaler_TargetTheSilos()
    {
        var silo = Deployment("silo");
        var pdb = Objects.Value.OfType<V1PodDisruptionBudget>().Single();
        var hpa = Objects.Value.OfType<V2HorizontalPodAutoscaler>().Single();

        Assert.All(pdb.Spec.Selector.MatchLabels, l => Assert.Equal(l.Value, silo.Spec.Template.Metadata.Labels[l.Key]));
        Assert.Equal(("Deployment", "silo"), (hpa.Spec.ScaleTargetRef.Kind, hpa.Spec.ScaleTargetRef.Name));
        Assert.InRange(silo.Spec.Replicas ?? 1, hpa.Spec.MinReplicas ?? 1, hpa.Spec.MaxReplicas);
    }

    [Fact]
    public void Services_SelectPodsThatExist_OnPortsTheContainersName()
    {
        var templates = Objects.Value.OfType<V1Deployment>().Select(d => d.Spec.Template)
            .Concat(Objects.Value.OfType<V1StatefulSet>().Select(s => s.Spec.Template)).ToArray();

        foreach (var service in Objects.Value.OfType<V1Service>())
        {
            var target = templates.SingleOrDefault(t => service.Spec.Selector.All(l => t.Metadata.Labels.TryGetValue(l.Key, out var v) && v == l.Value));
            Assert.True(target is not null, $"service {service.Metadata.Name} selects no pod template");
            var ports = target.Spec.Containers.SelectMany(c => c.Ports).Select(p => p.Name).ToHashSet();
            Assert.All(service.Spec.Ports, p => Assert.Contains(p.TargetPort.Value, ports));
        }
    }

    private static V1Deployment Deployment(string name) => Objects.Value.OfType<V1Deployment>().Single(d => d.Metadata.Name == name);

    /// <summary>Every pod template (Deployments, StatefulSets, Jobs), with the StatefulSets' volume claim names.</summary>
    private static IEnumerable<(string Name, V1PodTemplateSpec Template, IReadOnlyCollection<string> Claims)> Pods()
    {
        foreach (var deployment in Objects.Value.OfType<V1Deployment>())
        {
            yield return (deployment.Metadata.Name, deployment.Spec.Template, Array.Empty<string>());
        }

        foreach (var set in Objects.Value.OfType<V1StatefulSet>())
        {
            yield return (set.Metadata.Name, set.Spec.Template, (set.Spec.VolumeClaimTemplates ?? []).Select(c => c.Metadata.Name).ToArray());
        }

        foreach (var job in Objects.Value.OfType<V1Job>())
        {
            yield return (job.Metadata.Name, job.Spec.Template, Array.Empty<string>());
        }
    }

    private static IEnumerable<V1Container> AllContainers(V1PodSpec spec) => (spec.InitContainers ?? []).Concat(spec.Containers);

    /// <summary>
    /// What the network policies selecting <paramref name="target"/> let in, as "source -> protocol/port": the source is
    /// a pod's <see cref="NameLabel"/> in the namespace, * for anywhere, ? for any other kind of peer.
    /// </summary>
    private static IEnumerable<string> AllowedIngress(V1PodTemplateSpec target)
    {
        var policies = Objects.Value.OfType<V1NetworkPolicy>().Where(p => Selects(p.Spec.PodSelector, target.Metadata.Labels)).ToArray();
        Assert.All(policies, p => Assert.Contains("Ingress", p.Spec.PolicyTypes));

        foreach (var rule in policies.SelectMany(p => p.Spec.Ingress ?? []))
        {
            string[] sources = rule.FromProperty is { Count: > 0 } peers ? peers.Select(Source).ToArray() : ["*"];
            string[] ports = rule.Ports is { Count: > 0 } listed ? listed.Select(p => p.EndPort is null ? $"{p.Protocol ?? "TCP"}/{p.Port}" : "?").ToArray() : ["*"];
            foreach (var source in sources)
            {
                foreach (var port in ports)
                {
                    yield return $"{source} -> {port}";
                }
            }
        }
    }

    private static string Source(V1NetworkPolicyPeer peer) =>
        peer is { IpBlock: null, NamespaceSelector: null, PodSelector: { } selector }
        && (selector.MatchExpressions ?? []).Count == 0
        && selector.MatchLabels is { Count: 1 } labels
        && labels.TryGetValue(NameLabel, out var name)
            ? name
            : "?";

    private static bool Selects(V1LabelSelector selector, IDictionary<string, string> labels)
    {
        Assert.Empty(selector.MatchExpressions ?? []);
        return (selector.MatchLabels ?? new Dictionary<string, string>()).All(l => labels.TryGetValue(l.Key, out var v) && v == l.Value);
    }

    [GeneratedRegex(@"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")]
    private static partial Regex VariableReference();

    [GeneratedRegex(@"password=([^;,]*)", RegexOptions.IgnoreCase)]
    private static partial Regex ConnectionStringPassword();

    [GeneratedRegex(@"^\$\([A-Z_]*PASSWORD\)$")]
    private static partial Regex PasswordReference();

    private static string RepositoryRoot => Path.GetDirectoryName(TestRepository.Shipped)!;

    private static IReadOnlyList<object> Render()
    {
        var kubectl = new ProcessStartInfo("kubectl", ["kustomize", Path.Combine(RepositoryRoot, "k8s")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(kubectl) ?? throw new InvalidOperationException("kubectl did not start");
        var stderr = process.StandardError.ReadToEndAsync();
        var yaml = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"kubectl kustomize k8s/ failed: {stderr.Result}");
        return KubernetesYaml.LoadAllFromString(yaml, strict: true);
    }
}
