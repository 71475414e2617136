using System.Diagnostics;
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

    internal static readonly Lazy<IReadOnlyList<object>> Objects = new(Render);

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
        var (map, _) = SchemaJob();
        var db = Directory.GetFiles(Path.Combine(RepositoryRoot, "db"), "*.sql").Order(StringComparer.Ordinal).ToArray();
        foreach (var file in db)
        {
            var name = Path.GetFileName(file);
            Assert.True(map.Data.TryGetValue(name, out var copy) && copy == File.ReadAllText(file),
                $"k8s/postgres/{name} differs from db/{name}: copy db/ into k8s/postgres/ and list it in kustomization.yaml");
        }

        // db/ in order, then the roles, which are granted on its tables.
        Assert.Equal([.. db.Select(f => Path.GetFileName(f)), "roles.sql"], SchemaJobFiles());
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

    internal static V1Deployment Deployment(string name) => Objects.Value.OfType<V1Deployment>().Single(d => d.Metadata.Name == name);

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

    internal static string RepositoryRoot => Path.GetDirectoryName(TestRepository.Shipped)!;

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
