using Microsoft.Extensions.Time.Testing;
using Orleans.AiFleet.GrainInterfaces.Lifecycle;
using Orleans.AiFleet.Grains.Lifecycle;

namespace Orleans.AiFleet.Grains.Tests.Lifecycle;

/// <summary>The answers kept for feedback are bounded in number and age, judged once, and per user.</summary>
public sealed class PredictionMemoryTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-11-30T00:00:00Z"));

    [Fact]
    public void PastItsCapacity_TheOldestAnswersGo()
    {
        var memory = new PredictionMemory(capacity: 100, TimeSpan.FromHours(1), _time);
        for (var i = 0; i < 1000; i++)
        {
            memory.Add(Answer("u", $"r{i}"));
        }

        Assert.Equal(100, memory.Count);
        Assert.Null(memory.Take("u", "r899", out _));
        Assert.NotNull(memory.Take("u", "r900", out _));
    }

    [Fact]
    public void PastItsAge_AnAnswerCannotBeJudged()
    {
        var memory = new PredictionMemory(capacity: 100, TimeSpan.FromMinutes(10), _time);
        memory.Add(Answer("u", "old"));
        _time.Advance(TimeSpan.FromMinutes(11));

        Assert.Null(memory.Take("u", "old", out var judged));
        Assert.False(judged);
        Assert.Equal(0, memory.Count);
    }

    [Fact]
    public void AnAnswer_IsJudgedOnce_AndOnlyByItsUser()
    {
        var memory = new PredictionMemory(capacity: 100, TimeSpan.FromHours(1), _time);
        memory.Add(Answer("alice", "r1"));

        Assert.Null(memory.Take("bob", "r1", out _));
        Assert.NotNull(memory.Take("alice", "r1", out _));
        Assert.Null(memory.Take("alice", "r1", out var judged));
        Assert.True(judged);
    }

    private static PredictionRecord Answer(string user, string id) => new(user, id, "1", [3], [0.5f]);
}
