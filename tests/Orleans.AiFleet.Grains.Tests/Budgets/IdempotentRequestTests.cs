using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Tests.Budgets;

/// <summary>
/// A request sent again under the same id (what client-api does when a gateway drops mid-call) finds its first hold
/// rather than take a second, so it can be charged once only.
/// </summary>
public sealed class IdempotentRequestTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    [Fact]
    public async Task Reserve_SameRequestIdTwice_OneHold_AndASecondSettleChargesNothing()
    {
        var budget = fixture.Client.GetGrain<IUserBudgetGrain>($"user-{Guid.NewGuid():N}");

        var first = await budget.ReserveAsync(new ReserveRequest("m", 0.10m, 1, RequestId: "req-1"));
        var again = await budget.ReserveAsync(new ReserveRequest("m", 0.10m, 1, RequestId: "req-1"));

        Assert.Equal(first.ReservationId, again.ReservationId);
        Assert.Equal((0.10m, 1), ((await budget.GetStatusAsync()).Reserved, (await budget.GetStatusAsync()).OpenReservations));
        Assert.NotNull(await budget.SettleAsync(new SettleRequest(first.ReservationId, 0.08m, 1, "ok")));
        Assert.Null(await budget.SettleAsync(new SettleRequest(again.ReservationId, 0.08m, 1, "ok")));
        Assert.Equal(0.08m, (await budget.GetStatusAsync()).SpentToday);
    }

    [Fact]
    public async Task AChatSentTwiceUnderOneId_IsChargedOnce()
    {
        var user = $"user-{Guid.NewGuid():N}";
        var router = fixture.Client.GetGrain<IInferenceRouterGrain>(0);
        var chat = new ChatRequest(user, "chat-lm", "In the beginning", 12, 0.8, 7, RequestId: "chatcmpl-resent");

        var first = await router.CompleteChatAsync(chat);
        var resent = await router.CompleteChatAsync(chat);

        Assert.True(first.Cost > 0m);
        Assert.Equal(first.Text, resent.Text); // the same seed: the same work, done twice
        Assert.Equal(first.Cost, (await fixture.Client.GetGrain<IUserBudgetGrain>(user).GetStatusAsync()).SpentToday);
    }

    [Fact]
    public async Task AChatPaidFromAHold_RunsOnlyWhileThatHoldIsOpen_AndIsNotChargedAgain()
    {
        var user = $"user-{Guid.NewGuid():N}";
        var budget = fixture.Client.GetGrain<IUserBudgetGrain>(user);
        var router = fixture.Client.GetGrain<IInferenceRouterGrain>(0);
        var hold = await budget.ReserveAsync(new ReserveRequest("course-generation", 0.01m, 100));

        var paid = await router.CompleteChatAsync(new ChatRequest(user, "chat-lm", "In the beginning", 8, 0.8, 7, PaidFrom: hold.ReservationId));
        Assert.True(paid.Cost > 0m);
        Assert.Equal(0m, (await budget.GetStatusAsync()).SpentToday); // the holder settles it, not the router

        await budget.SettleAsync(new SettleRequest(hold.ReservationId, paid.Cost, 8, "ok"));
        var closed = await Assert.ThrowsAsync<AiFleetException>(() => router.CompleteChatAsync(new ChatRequest(user, "chat-lm", "In the beginning", 8, 0.8, 7, PaidFrom: hold.ReservationId)));
        Assert.Equal(FailureKind.Conflict, closed.Kind);
        Assert.Equal(paid.Cost, (await budget.GetStatusAsync()).SpentToday);
    }
}
