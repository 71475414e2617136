using System.Threading.RateLimiting;
using Orleans.AiFleet.GrainInterfaces.Budgets;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>
/// A budget's limits at work: which one refuses a request now, how much may still be charged under the spending
/// caps, and the requests- and tokens-per-minute token buckets (System.Threading.RateLimiting, refilled continuously
/// over a minute; they live in memory, so a restart refills them). Spend and holds are the caller's, passed in.
/// </summary>
internal sealed class BudgetCaps(BudgetLimits limits)
{
    private TokenBucketRateLimiter? _requests = Bucket(limits.RequestsPerMinute);
    private TokenBucketRateLimiter? _tokens = Bucket(limits.TokensPerMinute);

    public BudgetLimits Limits { get; private set; } = limits;

    /// <summary>Takes new limits; the per-minute buckets start full.</summary>
    public void Set(BudgetLimits limits)
    {
        _requests?.Dispose();
        _tokens?.Dispose();
        (Limits, _requests, _tokens) = (limits, Bucket(limits.RequestsPerMinute), Bucket(limits.TokensPerMinute));
    }

    /// <summary>
    /// The limit that refuses <paramref name="cost"/>, <paramref name="tokens"/>, <paramref name="permits"/> requests and
    /// <paramref name="slots"/> more at once now, given <paramref name="open"/> requests at once already held, holds of
    /// <paramref name="held"/> dollars and the settled <paramref name="spend"/>; or null.
    /// </summary>
    public ReserveResult? Refusal(decimal cost, int tokens, int permits, int slots, int open, decimal held, UsageTotals spend, DateTimeOffset now)
    {
        if (Limits.PerRequest is { } perRequest && cost > perRequest)
        {
            return ReserveResult.Refuse(BudgetLimitCodes.PerRequest, $"the request may cost up to ${cost}, above the per-request cap of ${perRequest}");
        }

        if (Limits.MaxParallel is { } parallel && open + slots > parallel)
        {
            return ReserveResult.Refuse(BudgetLimitCodes.MaxParallel, $"{parallel} requests are already running, the most allowed at once", TimeSpan.FromSeconds(1));
        }

        var today = DateOnly.FromDateTime(now.UtcDateTime);
        var spentToday = spend.Day(today);
        if (Limits.Daily is { } daily && spentToday + held + cost > daily)
        {
            return ReserveResult.Refuse(BudgetLimitCodes.Daily,
                $"the daily cap of ${daily} would be exceeded (spent ${spentToday}, held ${held}, this request up to ${cost})", UntilMidnight(now));
        }

        if (Limits.Monthly is { } monthly && spend.MonthTo(today) is var spentMonth && spentMonth + held + cost > monthly)
        {
            return ReserveResult.Refuse(BudgetLimitCodes.Monthly,
                $"the monthly cap of ${monthly} would be exceeded (spent ${spentMonth}, held ${held}, this request up to ${cost})", UntilNextMonth(now));
        }

        if (RequestsPerMinuteRefusal(permits) is { } perMinute)
        {
            return perMinute;
        }

        if (_tokens is not null && tokens > Limits.TokensPerMinute)
        {
            return ReserveResult.Refuse(BudgetLimitCodes.TokensPerMinute, $"the request may use {tokens} tokens, more than the {Limits.TokensPerMinute} allowed per minute");
        }

        return _tokens is not null && tokens > 0 && Available(_tokens) < tokens
            ? ReserveResult.Refuse(BudgetLimitCodes.TokensPerMinute, $"more than {Limits.TokensPerMinute} tokens per minute", RetryAfter(_tokens, Limits.TokensPerMinute, tokens))
            : null;
    }

    /// <summary>The requests-per-minute refusal of <paramref name="permits"/> more requests now, or null.</summary>
    public ReserveResult? RequestsPerMinuteRefusal(int permits) =>
        _requests is not null && Available(_requests) < permits
            ? ReserveResult.Refuse(BudgetLimitCodes.RequestsPerMinute, $"more than {Limits.RequestsPerMinute} requests per minute", RetryAfter(_requests, Limits.RequestsPerMinute, permits))
            : null;

    /// <summary>What may still be charged now without passing the daily or monthly cap, <paramref name="held"/> counted.</summary>
    public decimal Headroom(decimal held, UsageTotals spend, DateTimeOffset now)
    {
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        var room = decimal.MaxValue;
        if (Limits.Daily is { } daily)
        {
            room = Math.Min(room, daily - spend.Day(today) - held);
        }

        if (Limits.Monthly is { } monthly)
        {
            room = Math.Min(room, monthly - spend.MonthTo(today) - held);
        }

        return Math.Max(0m, room);
    }

    /// <summary>Takes <paramref name="requests"/> and <paramref name="tokens"/> from the per-minute buckets (checked first by <see cref="Refusal"/>).</summary>
    public void Take(int requests, int tokens)
    {
        if (requests > 0)
        {
            _requests?.AttemptAcquire(requests).Dispose();
        }

        if (tokens > 0)
        {
            _tokens?.AttemptAcquire(tokens).Dispose();
        }
    }

    /// <summary>As many of <paramref name="asked"/> request permits as the per-minute bucket holds now, at least one.</summary>
    public int GrantablePermits(int asked) =>
        _requests is null ? asked : Math.Clamp((int)Math.Min(Available(_requests), int.MaxValue), 1, asked);

    /// <summary>As many of <paramref name="asked"/> tokens as the per-minute bucket holds now, at least <paramref name="least"/>.</summary>
    public int GrantableTokens(int asked, int least) =>
        _tokens is null ? asked : Math.Clamp((int)Math.Min(Available(_tokens), int.MaxValue), Math.Min(least, asked), asked);

    /// <summary>As many of <paramref name="asked"/> more requests at once as the parallel cap leaves beside <paramref name="open"/>, at least one; null when there is no cap.</summary>
    public int? GrantableSlots(int asked, int open) =>
        Limits.MaxParallel is { } parallel ? Math.Clamp(parallel - open, 1, Math.Max(1, asked)) : null;

    /// <summary>A bucket of <paramref name="perMinute"/> that refills continuously over a minute.</summary>
    private static TokenBucketRateLimiter? Bucket(int? perMinute) => perMinute is { } limit
        ? new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = limit,
            TokensPerPeriod = limit,
            ReplenishmentPeriod = TimeSpan.FromMinutes(1),
            QueueLimit = 0,
            AutoReplenishment = false,
        })
        : null;

    /// <summary>Permits the bucket holds now, after refilling it for the time since it was last looked at.</summary>
    private static long Available(TokenBucketRateLimiter bucket)
    {
        bucket.TryReplenish();
        return bucket.GetStatistics()!.CurrentAvailablePermits;
    }

    /// <summary>When a bucket refilling <paramref name="perMinute"/> a minute will hold <paramref name="permits"/>.</summary>
    private static TimeSpan RetryAfter(TokenBucketRateLimiter bucket, int? perMinute, int permits) =>
        TimeSpan.FromSeconds(Math.Ceiling(Math.Max(1, (permits - Available(bucket)) / ((perMinute ?? 1) / 60.0))));

    private static TimeSpan UntilMidnight(DateTimeOffset now) => now.UtcDateTime.Date.AddDays(1) - now.UtcDateTime;

    private static TimeSpan UntilNextMonth(DateTimeOffset now)
    {
        var d = now.UtcDateTime;
        return new DateTime(d.Year, d.Month, 1, 0, 0, 0, DateTimeKind.Utc).AddMonths(1) - d;
    }
}
