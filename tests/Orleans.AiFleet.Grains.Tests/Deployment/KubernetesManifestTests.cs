using System.Diagnostics;
using k8s;
using k8s.Models;

namespace Orleans.AiFleet.Grains.Tests.Deployment;

/// <summary>
/// k8s/ validated offline: <c>kubectl kustomize k8s/</c> renders, every object parses strictly against the
/// Kubernetes schema (KubernetesClient: unknown fields and wrong types fail), and the objects agree with each other
/// and with the silo's configuration contract.
/// </summary>
public sealed class KubernetesManifestTests
{
    private static readonly Lazy<IReadOnlyList<object>> Objects = new(Render);

    [Fact]
    public void Kustomize_RendersEveryObjectOfTheDeployment_StrictlyParsed()
    {
        var kinds = Objects.Value.Select(o => ((IKubernetesObject)o).Kind).Order().ToArray();

        Assert.Equal(
            ["ConfigMap", "Deployment", "Deployment", "HorizontalPodAutoscaler", "Job", "Namespace", "PodDisruptionBudget",
             "Role", "RoleBinding", "Secret", "Secret", "Service", "Service", "Service", "ServiceAccount", "StatefulSet", "StatefulSet"],
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
        Assert.NotNull(env["AIFLEET__CLUSTER__POSTGRES"].ValueFrom.SecretKeyRef);
        Assert.NotNull(env["AIFLEET__CLUSTER__REDIS"].Value);

        var models = silo.Spec.Containers.Single().VolumeMounts.Single(m => m.Name == "models");
        Assert.Equal(env["AIFLEET__MODELS__PATH"].Value, models.MountPath);
        Assert.Contains(silo.Spec.Volumes, v => v.Name == "models");
    }

    [Fact]
    public void Silo_ServiceAccount_IsBoundToTheRoleKubernetesHostingNeeds()
    {
        var account = Deployment("silo").Spec.Template.Spec.ServiceAccountName;
        var binding = Objects.Value.OfType<V1RoleBinding>().Single(b => b.Subjects.Any(s => s.Kind == "ServiceAccount" && s.Name == account));
        var role = Objects.Value.OfType<V1Role>().Single(r => r.Metadata.Name == binding.RoleRef.Name);

        var pods = Assert.Single(role.Rules);
        Assert.Equal(["pods"], pods.Resources);
        Assert.Equal(["get", "list", "patch", "watch"], pods.Verbs.Order());
        Assert.Contains(Objects.Value.OfType<V1ServiceAccount>(), a => a.Metadata.Name == account);
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
    public void EveryClientApiPod_AcceptsTheSameAdminKey_FromASecret()
    {
        var env = Deployment("client-api").Spec.Template.Spec.Containers.Single().Env.ToDictionary(e => e.Name);

        Assert.NotNull(env["AIFLEET__AUTH__ADMINKEY"].ValueFrom.SecretKeyRef);
        Assert.Null(env["AIFLEET__AUTH__ADMINKEY"].Value);
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

    [Fact]
    public void SecretAndConfigMapReferences_Resolve_AndTheSchemaJobAppliesDbAsItIs()
    {
        var secrets = Objects.Value.OfType<V1Secret>().ToDictionary(s => s.Metadata.Name);
        var specs = Objects.Value.OfType<V1Deployment>().Select(d => d.Spec.Template.Spec)
            .Concat(Objects.Value.OfType<V1StatefulSet>().Select(s => s.Spec.Template.Spec))
            .Concat(Objects.Value.OfType<V1Job>().Select(j => j.Spec.Template.Spec));
        foreach (var reference in specs.SelectMany(s => s.Containers).SelectMany(c => c.Env ?? []).Select(e => e.ValueFrom?.SecretKeyRef).OfType<V1SecretKeySelector>())
        {
            Assert.True(secrets.TryGetValue(reference.Name, out var secret), $"no secret {reference.Name}");
            Assert.True(secret.Data?.ContainsKey(reference.Key) == true || secret.StringData?.ContainsKey(reference.Key) == true, $"secret {reference.Name} has no key {reference.Key}");
        }

        var job = Objects.Value.OfType<V1Job>().Single();
        var schema = job.Spec.Template.Spec.Volumes.Single().ConfigMap.Name;
        var map = Objects.Value.OfType<V1ConfigMap>().Single(c => c.Metadata.Name == schema);
        var file = Path.Combine(RepositoryRoot, "db", "001_membership.sql");
        Assert.True(map.Data["001_membership.sql"] == File.ReadAllText(file),
            "k8s/postgres/001_membership.sql differs from db/001_membership.sql: copy db/ into k8s/postgres/");
    }

    private static V1Deployment Deployment(string name) => Objects.Value.OfType<V1Deployment>().Single(d => d.Metadata.Name == name);

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
