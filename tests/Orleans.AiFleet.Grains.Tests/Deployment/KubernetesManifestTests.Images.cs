using System.Text.RegularExpressions;

namespace Orleans.AiFleet.Grains.Tests.Deployment;

/// <summary>Images are pinned: every container names a version (kustomization.yaml's images), none a moving tag.</summary>
public sealed partial class KubernetesManifestTests
{
    [Fact]
    public void EveryContainerImage_ResolvesToAVersionTagOrDigest_NeverLatestOrABareMajor()
    {
        var failures = new List<string>();
        foreach (var (name, template, _) in Pods())
        {
            foreach (var container in AllContainers(template.Spec))
            {
                // registry/repository[:tag][@sha256:digest]; a registry's port is a ':' before the last '/'.
                var image = ImageReference().Match(container.Image);
                var tag = image.Groups["tag"].Value;
                if (!image.Success)
                {
                    failures.Add($"{name}/{container.Name}: {container.Image} is not an image reference");
                }
                else if (!image.Groups["digest"].Success && !VersionTag().IsMatch(tag))
                {
                    failures.Add($"{name}/{container.Name}: {container.Image} has {(tag.Length == 0 ? "no tag" : $"tag '{tag}'")}, not a version (major.minor at least)");
                }

                if (container.ImagePullPolicy != "IfNotPresent")
                {
                    failures.Add($"{name}/{container.Name}: imagePullPolicy is {container.ImagePullPolicy ?? "unset"}, not IfNotPresent");
                }
            }
        }

        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
    }

    [GeneratedRegex(@"^(?<repository>[^:@]+(:\d+/[^:@]+)?)(:(?<tag>[\w][\w.-]{0,127}))?(@(?<digest>sha256:[0-9a-f]{64}))?$")]
    private static partial Regex ImageReference();

    /// <summary>A release's tag: major.minor at least (15.18, 7.2.11, 0.22.0), optionally a variant (-bookworm).</summary>
    [GeneratedRegex(@"^\d+(\.\d+)+(-[\w.]+)?$")]
    private static partial Regex VersionTag();
}
