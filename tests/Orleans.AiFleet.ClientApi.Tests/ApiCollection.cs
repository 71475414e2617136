namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>One embedded host on the shipped models, shared by the HTTP test classes.</summary>
[CollectionDefinition(Name)]
public sealed class ApiCollection : ICollectionFixture<ApiFixture>
{
    public const string Name = "api";
}
