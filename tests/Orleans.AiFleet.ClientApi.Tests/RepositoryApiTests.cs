using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>An embedded host on a copy of digits ("cycled") whose replicas drain for 50 ms before they unload.</summary>
public sealed class RepositoryFixture() : ApiFixtureBase(TestRepository.Create("digits", ("cycled", _ => { })))
{
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.UseSetting("AiFleet:Fleet:DrainAfter", "00:00:00.05");
    }
}

/// <summary>Run after the parallel collections: it measures this process's memory over 100 load and unload cycles.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RepositoryCollection : ICollectionFixture<RepositoryFixture>
{
    public const string Name = "repository";
}

/// <summary>The KServe v2 repository extension: index, load and unload, through the fleet, admin only.</summary>
[Collection(RepositoryCollection.Name)]
public sealed class RepositoryApiTests(RepositoryFixture fixture, Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task Unload_TakesTheModelOutOfService_UntilLoad_WarmsItBack()
    {
        Assert.Equal(["READY", "READY"], await StatesAsync());
        Assert.Equal(HttpStatusCode.OK, (await Infer()).StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await fixture.Http.PostAsync("/v2/repository/models/cycled/unload", null)).StatusCode);

        Assert.Equal(["UNAVAILABLE", "UNAVAILABLE"], await StatesAsync());
        // Routers notice at their next table refresh (every second): from then on the model answers 503.
        var refused = await Infer();
        for (var giveUp = DateTime.UtcNow.AddSeconds(5); refused.StatusCode == HttpStatusCode.OK && DateTime.UtcNow < giveUp; refused = await Infer())
        {
            await Task.Delay(100);
        }

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Contains("unloaded", JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString());
        var readyOnly = await (await fixture.Http.PostAsJsonAsync("/v2/repository/index", new { ready = true })).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(0, readyOnly.GetArrayLength());

        Assert.Equal(HttpStatusCode.OK, (await fixture.Http.PostAsync("/v2/repository/models/cycled/load", null)).StatusCode);

        Assert.Equal(["READY", "READY"], await StatesAsync());
        Assert.Equal(HttpStatusCode.OK, (await Infer()).StatusCode); // warmed before it took traffic
    }

    [Fact]
    public async Task TheRepositoryRoutes_AreAdminOnly_AndNameUnknownModels()
    {
        using var user = fixture.Client(await fixture.NewUserKeyAsync("repo-user"));

        Assert.Equal(HttpStatusCode.Forbidden, (await user.PostAsync("/v2/repository/index", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await user.PostAsync("/v2/repository/models/cycled/unload", null)).StatusCode);
        var unknown = await fixture.Http.PostAsync("/v2/repository/models/no-such-model/load", null);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("no-such-model", JsonDocument.Parse(await unknown.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString());
    }

    [Fact]
    public async Task AHundredLoadUnloadCycles_LeaveMemoryFlat()
    {
        // The native allocator settles over the first cycles (seen: +24 MB by cycle 50, +43 MB by 100, then flat).
        var start = Memory();
        await CycleAsync(100);
        var before = Memory();

        await CycleAsync(100);

        var after = Memory();
        output.WriteLine($"private memory {start.Private >> 20} MB at the start, {before.Private >> 20} MB after 100 cycles, {after.Private >> 20} MB after 200; managed heap {before.Managed >> 20} → {after.Managed >> 20} MB");
        Assert.True(after.Private - before.Private < 24L << 20, $"process memory grew {(after.Private - before.Private) >> 20} MB over the second 100 cycles");
        Assert.True(after.Managed - before.Managed < 16L << 20, $"managed heap grew {(after.Managed - before.Managed) >> 20} MB over the second 100 cycles");
    }

    private async Task CycleAsync(int cycles)
    {
        for (var i = 0; i < cycles; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await fixture.Http.PostAsync("/v2/repository/models/cycled/unload", null)).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await fixture.Http.PostAsync("/v2/repository/models/cycled/load", null)).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await Infer()).StatusCode);
        }
    }

    private static (long Private, long Managed) Memory()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var process = Process.GetCurrentProcess();
        return (process.PrivateMemorySize64, GC.GetTotalMemory(forceFullCollection: true));
    }

    private Task<HttpResponseMessage> Infer() => fixture.Http.PostAsJsonAsync("/v2/models/cycled/infer", KServe.DigitsBody(0));

    private async Task<string[]> StatesAsync()
    {
        var index = await (await fixture.Http.PostAsync("/v2/repository/index", null)).Content.ReadFromJsonAsync<JsonElement>();
        return [.. index.EnumerateArray().Where(e => e.GetProperty("name").GetString() == "cycled").Select(e => e.GetProperty("state").GetString()!)];
    }
}
