using k8s.Models;

namespace Orleans.AiFleet.Grains.Tests.Deployment;

/// <summary>Locked-down pods: no token where none is needed, probes, requests and limits, non-root, read-only, no capabilities.</summary>
public sealed partial class KubernetesManifestTests
{
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
}
