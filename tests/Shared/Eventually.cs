namespace Orleans.AiFleet.Tests;

/// <summary>Waits on observable state, never on a guess of how long something takes.</summary>
internal static class Eventually
{
    public static async Task TrueAsync(Func<Task<bool>> condition, string what, TimeSpan? deadline = null)
    {
        var limit = deadline ?? TimeSpan.FromSeconds(20);
        var giveUp = DateTime.UtcNow + limit;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < giveUp, $"waited {limit.TotalSeconds} s for {what}");
            await Task.Delay(10);
        }
    }
}
