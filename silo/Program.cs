using Microsoft.Extensions.Hosting;

// The silo host. Until cluster mode lands (PostgreSQL membership, Redis state), it runs one silo on localhost
// clustering with in-memory state, through the same silo configuration as the embedded default and the tests.
var builder = Host.CreateApplicationBuilder(args);
builder.UseOrleans(silo => silo.UseLocalhostClustering().AddAiFleet().UseAiFleetInMemoryState());
builder.Build().Run();
