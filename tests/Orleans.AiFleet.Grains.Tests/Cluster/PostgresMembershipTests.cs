using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Tests.Cluster;

/// <summary>
/// Real silo hosts joining through PostgreSQL membership (this project's schema and query texts in db/), and an
/// external client finding them through the same table.
/// </summary>
public sealed class PostgresMembershipTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private const int Active = 3;
    private const int Dead = 6;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task TwoSilosAndAClient_JoinThroughPostgres_ServeAndSurviveASiloLeaving()
    {
        var clusterId = $"test-{Guid.NewGuid():N}";
        var (port1, gateway1, port2, gateway2) = (TestHosts.FreePort(), TestHosts.FreePort(), TestHosts.FreePort(), TestHosts.FreePort());
        using var silo1 = await TestHosts.StartClusterSiloAsync(postgres.ConnectionString, clusterId, port1, gateway1);
        using var silo2 = await TestHosts.StartClusterSiloAsync(postgres.ConnectionString, clusterId, port2, gateway2);
        using var clientHost = await TestHosts.StartClusterClientAsync(postgres.ConnectionString, clusterId);
        var client = clientHost.Services.GetRequiredService<IClusterClient>();

        await WaitUntilAsync(async () => (await StatusesAsync(clusterId)).Count(s => s.Status == Active) == 2, "two active silos in PostgreSQL");
        var rows = await StatusesAsync(clusterId);
        Assert.Equal(new[] { port1, port2 }.Order(), rows.Select(r => r.Port).Order());
        Assert.Equal(new[] { gateway1, gateway2 }.Order(), rows.Select(r => r.ProxyPort).Order());

        var router = client.GetGrain<IInferenceRouterGrain>(0);
        var first = await router.InferAsync(Samples.Digit("digits", 0, outputs: "logits"));
        Reference.AssertClose(Reference.Run("digits", "2", [Samples.Pixels(0)], "logits"), first.Outputs[0].Fp32!);

        await silo2.StopAsync();
        await WaitUntilAsync(async () => (await StatusesAsync(clusterId)).Single(r => r.Port == port2).Status == Dead, "the stopped silo marked dead");
        Assert.Equal(Active, (await StatusesAsync(clusterId)).Single(r => r.Port == port1).Status);

        var after = await router.InferAsync(Samples.Digit("digits", 1, outputs: "logits"));
        Reference.AssertClose(Reference.Run("digits", "2", [Samples.Pixels(1)], "logits"), after.Outputs[0].Fp32!);
        await silo1.StopAsync();
    }

    private async Task<List<(int Port, int ProxyPort, int Status)>> StatusesAsync(string clusterId)
    {
        await using var connection = new NpgsqlConnection(postgres.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT port, proxy_port, status FROM aifleet_membership WHERE deployment_id = @id", connection);
        command.Parameters.AddWithValue("id", clusterId);
        var rows = new List<(int, int, int)>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetInt32(0), reader.GetInt32(1), reader.GetInt32(2)));
        }

        return rows;
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var giveUp = DateTime.UtcNow + Deadline;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < giveUp, $"waited {Deadline.TotalSeconds} s for {what}");
            await Task.Delay(100);
        }
    }

}
