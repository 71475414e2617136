using System.Threading.RateLimiting;
using Orleans.AiFleet.GrainInterfaces.Budgets;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>A user's limits: which one refuses a request, the headroom under the caps, the per-minute buckets.</summary>
internal sealed partial class UserBudgetGrain
{
    /// <summary>The limit that refuses <paramref name="cost"/>, <paramref name="tokens"/> and <paramref name="permits"/> requests now, or null; counted by limit.</summary>
    private ReserveResult? Refusal(decimal cost, int tokens, int permits, DateTimeOffset now)
    {
        var refused = FindRefusal(cost, tokens, permits, now);
        if (refused is not null)
        {
            metrics.Refused(refused.RefusedBy);
        }

        return refused;
    }

    private ReserveResult? FindRefusal(decimal cost, int tokens, int permits, DateTimeOffset now)
    {
        var limits = Limits;
        if (limits.PerRequest is { } perRequest && cost > perRequest)
        {
            return ReserveResult.Refuse(BudgetLimitCodes.PerRequest, $"the request may cost up to ${cost}, above the per-request cap of ${perRequest}");
        }

        if (limits.MaxParallel is { } parallel && state.State.Open.Count >= parallel)
        {
            return ReserveResult.Refuse(BudgetLimitCodes.MaxParallel, $"{parallel} requests are already running, the most allowed at once", TimeSpan.FromSeconds(1));
        }

        var today = DateOnly.FromDateTime(now.UtcDateTime);
        var spentToday = _dayTotals.GetValueOrDefault(today);
        if (limits.Daily is { } daily && spentToday + _reserved + cost > daily)
        {
            return ReserveResult.Refuse(BudgetLimitCodes.Daily,
                $"the daily cap of ${daily} would be exceeded (spent ${spentToday}, held ${_reserved}, this request up to ${cost})",
                UntilMidnight(now));
        }

        if (limits.Monthly is { } monthly)
        {
            var spentMonth = MonthTotal(today);
            if (spentMonth + _reserved + cost > monthly)
            {
                return ReserveResult.Refuse(BudgetLimitCodes.Monthly,
                    $"the monthly cap of ${monthly} would be exceeded (spent ${spentMonth}, held ${_reserved}, this request up to ${cost})",
                    UntilNextMonth(now));
            }
        }

        if (RequestsPerMinuteRefusal(permits) is { } perMinute)
        {
            return perMinute;
        }

        if (_tokens is not null && tokens > limits.TokensPerMinute)
        {
            return ReserveResult.Refuse(BudgetLimitCodes.TokensPerMinute, $"the request may use {tokens} tokens, more than the {limits.TokensPerMinute} allowed per minute");
        }

        if (_tokens is not null && tokens > 0 && Available(_tokens) < tokens)
        {
            return ReserveResult.Refuse(BudgetLimitCodes.TokensPerMinute, $"more than {limits.TokensPerMinute} tokens per minute", RetryAfter(_tokens, limits.TokensPerMinute, tokens));
        }

        return null;
    }

    /// <summary>The requests-per-minute refusal of <paramref name="permits"/> more requests now, or null.</summary>
    private ReserveResult? RequestsPerMinuteRefusal(int permits) =>
        _requests is not null && Available(_requests) < permits
            ? ReserveResult.Refuse(BudgetLimitCodes.RequestsPerMinute, $"more than {Limits.RequestsPerMinute} requests per minute", RetryAfter(_requests, Limits.RequestsPerMinute, permits))
            : null;

    /// <summary>What may still be charged now without passing the daily or monthly cap, open holds counted.</summary>
    private decimal Headroom(DateTimeOffset now)
    {
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        var room = decimal.MaxValue;
        if (Limits.Daily is { } daily)
        {
            room = Math.Min(room, daily - _dayTotals.GetValueOrDefault(today) - _reserved);
        }

        if (Limits.Monthly is { } monthly)
        {
            room = Math.Min(room, monthly - MonthTotal(today) - _reserved);
        }

        return Math.Max(0m, room);
    }

    private decimal MonthTotal(DateOnly today)
    {
        var total = 0m;
        for (var day = new DateOnly(today.Year, today.Month, 1); day <= today; day = day.AddDays(1))
        {
            total += _dayTotals.GetValueOrDefault(day);
        }

        return total;
    }

    private void RebuildRateLimiters()
    {
        _requests?.Dispose();
        _tokens?.Dispose();
        _requests = Bucket(Limits.RequestsPerMinute);
        _tokens = Bucket(Limits.TokensPerMinute);
    }

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

    private DateOnly Today() => DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);

    private static TimeSpan UntilMidnight(DateTimeOffset now) => now.UtcDateTime.Date.AddDays(1) - now.UtcDateTime;

    private static TimeSpan UntilNextMonth(DateTimeOffset now)
    {
        var d = now.UtcDateTime;
        return new DateTime(d.Year, d.Month, 1, 0, 0, 0, DateTimeKind.Utc).AddMonths(1) - d;
    }
}
