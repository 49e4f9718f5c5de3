// One cvstudio role as a Flex Consumption function app (on Flex a plan holds one app): function_app.py's one
// AsgiFunctionApp, with CVSTUDIO_ROLE (in appSettings) choosing what it serves. The identity is user-assigned: host
// storage, the deployment package, the product's stores, Application Insights and the Key Vault references all use
// it. Its roles are assigned in rbac.bicep.

@description('The function app.')
param name string

param location string

param tags object = {}

@description('training or prediction (the plan\'s name and a tag; CVSTUDIO_ROLE itself is in appSettings).')
@allowed([
  'training'
  'prediction'
])
param role string

@description('Python version (Flex Consumption runtime).')
@allowed([
  '3.11'
])
param pythonVersion string = '3.11'

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('The app\'s user-assigned identity.')
param identityResourceId string

@description('Its client id (Functions identity connections, DefaultAzureCredential, Application Insights).')
param identityClientId string

@description('Blob endpoint of the hosts\' storage account (AzureWebJobsStorage, deployment packages), with its trailing slash.')
param hostBlobEndpoint string

@description('Queue endpoint of the hosts\' storage account; empty when the role runs no trigger.')
param hostQueueEndpoint string = ''

@description('Container of the deployment package in the hosts\' storage account.')
param deploymentContainerName string

@description('Application Insights (the module adds APPLICATIONINSIGHTS_CONNECTION_STRING).')
param applicationInsightsResourceId string

@description('The role\'s own settings (CVSTUDIO_*): keys only as Key Vault references.')
param appSettings object

var hostQueueSettings = empty(hostQueueEndpoint) ? {} : {
  AzureWebJobsStorage__queueServiceUri: hostQueueEndpoint
}

// On Flex Consumption the runtime is set in functionAppConfig, not FUNCTIONS_WORKER_RUNTIME/FUNCTIONS_EXTENSION_VERSION.
var identitySettings = {
  AzureWebJobsStorage__blobServiceUri: hostBlobEndpoint
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // DefaultAzureCredential (the product's Cosmos DB and Storage clients) picks the user-assigned identity by this.
  AZURE_CLIENT_ID: identityClientId
}

module plan 'br/public:avm/res/web/serverfarm:0.7.0' = {
  name: '${role}-plan'
  params: {
    name: 'plan-${name}'
    location: location
    tags: tags
    kind: 'functionapp'
    skuName: 'FC1'
    reserved: true
    zoneRedundant: false
  }
}

module site 'br/public:avm/res/web/site:0.24.0' = {
  name: '${role}-site'
  params: {
    name: name
    location: location
    tags: union(tags, {
      'cvstudio-role': role
    })
    kind: 'functionapp,linux'
    serverFarmResourceId: plan.outputs.resourceId
    httpsOnly: true
    clientAffinityEnabled: false
    publicNetworkAccess: 'Enabled'
    managedIdentities: {
      systemAssigned: false
      userAssignedResourceIds: [
        identityResourceId
      ]
    }
    // Key Vault references resolve with this identity (Key Vault Secrets User on the role's own secret).
    keyVaultAccessIdentityResourceId: identityResourceId
    siteConfig: {
      alwaysOn: false
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityResourceId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
    configs: [
      {
        name: 'appsettings'
        applicationInsightResourceId: applicationInsightsResourceId
        // The template is the whole truth: settings made by hand are not carried over.
        retainCurrentAppSettings: false
        properties: union(appSettings, identitySettings, hostQueueSettings)
      }
    ]
  }
}

@description('The app\'s name.')
output name string = site.outputs.name

@description('The app\'s default host name (the endpoint is https://<this>).')
output defaultHostname string = site.outputs.defaultHostname
