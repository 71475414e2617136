namespace Orleans.AiFleet.Tests;

/// <summary>Assertions on the one failure type that crosses the grain boundary.</summary>
internal static class FailureAssert
{
    /// <summary>Awaits <paramref name="call"/> and asserts it failed with an <see cref="AiFleetException"/> of <paramref name="kind"/>.</summary>
    public static async Task<AiFleetException> ThrowsAsync(FailureKind kind, Func<Task> call)
    {
        var failure = await Assert.ThrowsAsync<AiFleetException>(call);
        Assert.Equal(kind, failure.Kind);
        return failure;
    }
}
