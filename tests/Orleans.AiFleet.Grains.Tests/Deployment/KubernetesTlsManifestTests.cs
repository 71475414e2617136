using k8s.Models;

namespace Orleans.AiFleet.Grains.Tests.Deployment;

/// <summary>
/// k8s/ runs the Orleans ports over mutual TLS: the silos and client-api read the operator's cluster-tls Secret
/// (certificate, key, CA) from a read-only volume through the settings ClusterTlsOptions binds, and none opts out.
/// </summary>
public sealed class KubernetesTlsManifestTests
{
    private const string Secret = "cluster-tls";

    [Theory]
    [InlineData("silo")]
    [InlineData("client-api")]
    public void OrleansProcesses_ReadTheirCertificateKeyAndCa_FromTheOperatorsTlsSecret(string workload)
    {
        var pod = KubernetesManifestTests.Deployment(workload).Spec.Template.Spec;
        var container = pod.Containers.Single();
        var env = container.Env.ToDictionary(e => e.Name, e => e.Value);
        var volume = pod.Volumes.Single(v => v.Secret?.SecretName == Secret);
        var mount = container.VolumeMounts.Single(m => m.Name == volume.Name);

        Assert.True(mount.ReadOnlyProperty, $"{workload} mounts {Secret} writable");
        Assert.Null(volume.Secret.Optional); // not optional: the pod waits for the Secret rather than start without TLS
        Assert.Equal(Convert.ToInt32("440", 8), volume.Secret.DefaultMode);
        Assert.Equal(
            new[] { ("CACERTIFICATEPATH", "ca.crt"), ("CERTIFICATEPATH", "tls.crt"), ("KEYPATH", "tls.key") },
            env.Where(e => e.Key.StartsWith("AIFLEET__CLUSTER__TLS__", StringComparison.Ordinal))
                .Select(e => (e.Key["AIFLEET__CLUSTER__TLS__".Length..], Path.GetRelativePath(mount.MountPath, e.Value)))
                .Order());
    }

    [Fact]
    public void Kustomization_DocumentsCreatingTheTlsSecret_WithTheKeysThePodsRead()
    {
        var kustomization = File.ReadAllText(Path.Combine(KubernetesManifestTests.RepositoryRoot, "k8s", "kustomization.yaml"));

        Assert.Contains($"kubectl -n aifleet create secret generic {Secret} --from-file=tls.crt --from-file=tls.key --from-file=ca.crt", kustomization, StringComparison.Ordinal);
        Assert.Empty(KubernetesManifestTests.Objects.Value.OfType<V1Secret>());
    }
}
