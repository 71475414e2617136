namespace Orleans.AiFleet.GrainInterfaces.Lifecycle;

/// <summary>One arm of a split: a version and its share of users in basis points (1/100 of a percent).</summary>
[GenerateSerializer, Immutable, Alias("aifleet.VersionShare")]
public sealed record VersionShare(
    [property: Id(0)] string Version,
    [property: Id(1)] int BasisPoints);

/// <summary>Requests mirrored to <see cref="Version"/> at <see cref="BasisPoints"/>: answered, compared and discarded.</summary>
[GenerateSerializer, Immutable, Alias("aifleet.ShadowPolicy")]
public sealed record ShadowPolicy(
    [property: Id(0)] string Version,
    [property: Id(1)] int BasisPoints);

/// <summary>
/// Which version of a model answers a request that names none. With no <see cref="Split"/> every request goes to
/// <see cref="DefaultVersion"/>; with one, each user is hashed (with the model's name) to one of
/// <see cref="Whole"/> buckets and the arms take consecutive bucket ranges in list order, so a user stays in one arm,
/// and growing the first arm's share (a canary's steps) only moves users into it, never out. A request that names its
/// version bypasses the policy. <see cref="Shadow"/> mirrors a share of requests to a candidate. Owned and persisted
/// by the model's fleet; <see cref="Revision"/> moves on every change; <see cref="Experiment"/> names the experiment
/// that set it, if one did.
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.TrafficPolicy")]
public sealed record TrafficPolicy(
    [property: Id(0)] string DefaultVersion,
    [property: Id(1)] IReadOnlyList<VersionShare> Split,
    [property: Id(2)] ShadowPolicy? Shadow,
    [property: Id(3)] long Revision = 0,
    [property: Id(4)] string? Experiment = null)
{
    /// <summary>Basis points in the whole: 100 %.</summary>
    public const int Whole = 10_000;

    /// <summary>The version that answers <paramref name="user"/>'s requests that name none.</summary>
    public string Choose(string model, string? user)
    {
        if (Split.Count == 0)
        {
            return DefaultVersion;
        }

        var bucket = Bucket(model, user);
        foreach (var arm in Split)
        {
            if (bucket < arm.BasisPoints)
            {
                return arm.Version;
            }

            bucket -= arm.BasisPoints;
        }

        return DefaultVersion;
    }

    /// <summary>True for the share of requests the shadow policy mirrors (drawn at random per request).</summary>
    public bool Mirrors() => Shadow is { } shadow && Random.Shared.Next(Whole) < shadow.BasisPoints;

    /// <summary>
    /// A user's bucket, 0 to <see cref="Whole"/> - 1, the same in every process and every release: FNV-1a over the
    /// model's and the user's UTF-16 code units, then a 64-bit finalizer so that similar names spread evenly. A
    /// request without a user draws a bucket at random.
    /// </summary>
    public static int Bucket(string model, string? user)
    {
        if (user is null)
        {
            return Random.Shared.Next(Whole);
        }

        const ulong offset = 14695981039346656037UL, prime = 1099511628211UL;
        var h = offset;
        foreach (var c in model)
        {
            h = (h ^ c) * prime;
        }

        h = (h ^ 0xFFFF) * prime; // a separator no name contains, so ("ab", "c") and ("a", "bc") differ
        foreach (var c in user)
        {
            h = (h ^ c) * prime;
        }

        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdUL;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53UL;
        h ^= h >> 33;
        return (int)(h % Whole);
    }

    /// <summary>Every version the policy sends traffic to, shadow included.</summary>
    public IEnumerable<string> Versions() =>
        Split.Select(a => a.Version).Append(DefaultVersion).Concat(Shadow is null ? [] : [Shadow.Version]).Distinct(StringComparer.Ordinal);
}
