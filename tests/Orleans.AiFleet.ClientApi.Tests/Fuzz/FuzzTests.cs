using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;

namespace Orleans.AiFleet.ClientApi.Tests.Fuzz;

/// <summary>Run alone, after the parallel collections: ten thousand hostile requests would disturb their timings.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FuzzCollection : ICollectionFixture<ApiFixture>
{
    public const string Name = "fuzz";
}

/// <summary>
/// Structure-aware fuzzing of every route: valid bodies, paths, queries and headers mutated (types, ranges, sizes,
/// encodings, nesting, keys), <see cref="Cases"/> cases per seed. CI runs the fixed <see cref="Regressions"/>, a list
/// that grows with every seed that ever found a defect, so a run never depends on the date. AIFLEET_FUZZ_SEED=N
/// replays seed N alone; AIFLEET_FUZZ_SEED=random runs a fresh seed, printed with the result so it can be added.
/// Each answer must be below 500 and, when it is an error, parse in the route's protocol; the server must be
/// healthy and serving afterwards.
/// </summary>
[Collection(FuzzCollection.Name)]
public sealed class FuzzTests(ApiFixture fixture, Xunit.Abstractions.ITestOutputHelper output)
{
    public const int Cases = 10_000;

    /// <summary>
    /// Seeds that found a defect, kept for good. 341: a path starting with "/v2" that is no KServe route
    /// (<c>/v2oK…</c>) was judged by the wrong error shape. 7: a second stream, so
    /// every run covers two.
    /// </summary>
    private static readonly int[] Regressions = [7, 341];

    public static TheoryData<int> Seeds()
    {
        var asked = Environment.GetEnvironmentVariable("AIFLEET_FUZZ_SEED");
        if (string.Equals(asked, "random", StringComparison.OrdinalIgnoreCase))
        {
            return [Random.Shared.Next(1, 1_000_000)];
        }

        return int.TryParse(asked, out var one) ? [one] : [.. Regressions];
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task MutatedRequests_NoServerError_EveryErrorInItsProtocolsShape_ServerHealthyAfter(int seed)
    {
        var userKey = await fixture.NewUserKeyAsync("fuzz-user");
        Assert.Equal(HttpStatusCode.OK, (await fixture.Http.PutAsJsonAsync("/v1/admin/budgets/fuzz-user", new { daily = 0m })).StatusCode);
        await fixture.Http.PostAsJsonAsync("/v1/admin/orgs", new { id = Routes.FuzzOrg });
        await fixture.Http.PostAsJsonAsync($"/v1/admin/orgs/{Routes.FuzzOrg}/teams", new { id = Routes.FuzzTeam });
        await fixture.Http.PutAsJsonAsync($"/v1/admin/orgs/{Routes.FuzzOrg}/users/fuzz-student", new { role = "member", teams = new[] { Routes.FuzzTeam } });
        var routes = Routes.All();
        var failures = new ConcurrentQueue<string>();
        var statuses = new ConcurrentDictionary<int, int>();
        using var http = new HttpClient { BaseAddress = fixture.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        var next = -1;

        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < Cases)
            {
                // A mutator per case, seeded by the seed and the case's number: case i is the same request in every
                // run, whichever worker takes it (one per worker made the cases depend on the workers' timing).
                var mutator = new Mutator(unchecked((seed * 100_003) + i));
                var route = routes[mutator.Next(routes.Length)];
                using var request = route.Build(mutator, userKey);
                var what = $"#{i} {request.Method} {Trim(request.RequestUri!.ToString())} [{Trim(string.Join("; ", request.Headers.Select(h => $"{h.Key}: {string.Join(",", h.Value)}")))}]";
                try
                {
                    using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                    statuses.AddOrUpdate((int)response.StatusCode, 1, (_, n) => n + 1);
                    var body = response.Content.Headers.ContentType?.MediaType == "text/event-stream" ? "" : await response.Content.ReadAsStringAsync();
                    if ((int)response.StatusCode >= 500)
                    {
                        failures.Enqueue($"{what} → {(int)response.StatusCode} {Trim(body)}");
                    }
                    else if ((int)response.StatusCode >= 400 && !Routes.IsErrorShape(request.RequestUri.AbsolutePath, body)
                        && !(Routes.IsMalformedHttp(request) && response.StatusCode == HttpStatusCode.BadRequest && body.Length == 0))
                    {
                        failures.Enqueue($"{what} → {(int)response.StatusCode} not in the route's error shape: {Trim(body)}");
                    }
                }
                catch (HttpRequestException e)
                {
                    failures.Enqueue($"{what} → connection failed: {e.Message}");
                }
            }
        })));

        output.WriteLine($"seed {seed}: {Cases} cases; statuses {string.Join(", ", statuses.OrderBy(p => p.Key).Select(p => $"{p.Key}×{p.Value}"))}");
        Assert.True(failures.IsEmpty, $"seed {seed}: {failures.Count} of {Cases} cases failed:\n{string.Join("\n", failures.Take(10))}");
        Assert.True(statuses.Keys.Count(code => code >= 400) >= 5, "the fuzzer should reach many kinds of refusal");
        Assert.Contains(200, statuses.Keys);

        // Healthy after: ready, and a valid request is served.
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await fixture.Http.PostAsJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(0))).StatusCode);
    }

    private static string Trim(string text) => text.Length > 300 ? text[..300] + "…" : text;
}
