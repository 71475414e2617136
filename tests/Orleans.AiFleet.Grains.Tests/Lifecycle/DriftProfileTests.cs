using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grains.Lifecycle;

namespace Orleans.AiFleet.Grains.Tests.Lifecycle;

/// <summary>The shipped reference profiles (written by scripts/models/profile_*.py) against inputs like and unlike their training data.</summary>
public sealed class DriftProfileTests
{
    [Fact]
    public void Digits_HeldOutImagesAreClose_BrightenedOnesDrift()
    {
        var profile = Profile("digits", "2");
        var like = profile.NewCounts();
        var unlike = profile.NewCounts();
        for (var i = 0; i < Samples.HeldOutCount; i++)
        {
            profile.Add(like, [Samples.HeldOutPixels(i)]);
            profile.Add(unlike, [Samples.HeldOutPixels(i, p => Math.Min(1f, p + 0.5f))]);
        }

        Assert.True(profile.Psi(like).Max() < 0.1, $"held-out PSI {profile.Psi(like).Max()}");
        Assert.True(profile.Psi(unlike).Max() > 1, $"brightened PSI {profile.Psi(unlike).Max()}");
    }

    [Fact]
    public void TextEncoder_ShippedSentencesAreClose_UnknownWordsDrift()
    {
        var profile = Profile("text-encoder", "1");
        var like = profile.NewCounts();
        var unlike = profile.NewCounts();
        for (var i = 0; i < 64; i++)
        {
            var ids = Samples.TokenIds(i);
            profile.Add(like, [Tensor.FromInt64s("input_ids", [1, ids.Length], ids)]);
            var unknown = ids.Select(_ => 1L).ToArray(); // [UNK] everywhere: text from another language
            profile.Add(unlike, [Tensor.FromInt64s("input_ids", [1, unknown.Length], unknown)]);
        }

        Assert.True(profile.Psi(like)[0] < 0.2, $"shipped samples' PSI {profile.Psi(like)[0]}");
        Assert.True(profile.Psi(unlike)[0] > 1, $"unknown words' PSI {profile.Psi(unlike)[0]}");
    }

    private static DriftProfile Profile(string model, string version) =>
        DriftProfile.Read(Path.Combine(TestRepository.Shipped, model, version, DriftProfiles.FileName))
            ?? throw new InvalidOperationException($"{model} version {version} ships no sound profile");
}
