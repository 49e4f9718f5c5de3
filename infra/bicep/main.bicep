// cvstudio on Azure: a training resource and a prediction resource, kept separate (as Custom Vision's are).
//
//   az deployment group create -g <rg> -f infra/bicep/main.bicep \
//     -p trainingKey=<generated once> trainingKey2=<generated once> predictionKey=<generated once> \
//        predictionKey2=<generated once> [trainingImage=<acr>/cvstudio-training:<tag>]
//
// Two Flex Consumption function apps run the same code (function_app.py); CVSTUDIO_ROLE picks what each serves
// (training: the Training API and the blob and queue triggers; prediction: the Prediction API only). The product's
// data lives in one storage account (blobs, the training queue) and one serverless Cosmos DB account; the function
// hosts keep their own state and deployment packages in a second storage account that holds no product data.
// Training runs as a manual Container Apps job. Every app and the job has its own user-assigned identity with
// least-privilege roles (app/rbac.bicep, app/job-starter.bicep); each app reads its own key from Key Vault through a
// Key Vault reference. Outputs are endpoints and names only.
//
// After the code is published, drop-folder-events.bicep subscribes the drop folder's blob trigger to the storage
// account's events (README.md, "Run on Azure"). Syntax is kept to what pycep-parser (our checks) and checkov's older
// pycep parse: no user-defined functions or types, no imports, no spread.

targetScope = 'resourceGroup'

// ---------------------------------------------------------------------------------------------------------------
// Keys: generated once, outside the template (`openssl rand -hex 32`, or azd's `generate`), kept by whoever deploys
// (a parameters file outside git, a CI secret, azd's environment) and passed again on every deployment, so a
// redeployment never changes them. They go into Key Vault and nowhere else.
// ---------------------------------------------------------------------------------------------------------------

@description('The Training-Key the Training API checks (at least 16 characters). Generate once; pass the same value on every deployment.')
@secure()
@minLength(16)
@metadata({ azd: { type: 'generate', config: { length: 48, noSpecial: true } } })
param trainingKey string

@description('The Prediction-Key the Prediction API checks (at least 16 characters). Generate once; pass the same value on every deployment.')
@secure()
@minLength(16)
@metadata({ azd: { type: 'generate', config: { length: 48, noSpecial: true } } })
param predictionKey string

// Key 2 of each role (Custom Vision's Key2): accepted as well as key 1, so that one key is changed while clients use
// the other. Every key must differ from the other role's keys (the apps cannot compare: each holds only its own).

@description('A second Training-Key, accepted as well (at least 16 characters). Generate once; pass the same value on every deployment.')
@secure()
@minLength(16)
@metadata({ azd: { type: 'generate', config: { length: 48, noSpecial: true } } })
param trainingKey2 string

@description('A second Prediction-Key, accepted as well (at least 16 characters). Generate once; pass the same value on every deployment.')
@secure()
@minLength(16)
@metadata({ azd: { type: 'generate', config: { length: 48, noSpecial: true } } })
param predictionKey2 string

// ---------------------------------------------------------------------------------------------------------------
// Region and names
// ---------------------------------------------------------------------------------------------------------------

@description('Region of every resource (one that offers Flex Consumption and Container Apps).')
param location string = resourceGroup().location

@description('Environment name: the first part of every resource name (lowercase letters and digits, 2-10).')
@minLength(2)
@maxLength(10)
param environmentName string = 'cvstudio'

@description('Suffix that makes globally unique names unique; by default a hash of the resource group and the environment name.')
@minLength(5)
@maxLength(13)
param nameSuffix string = uniqueString(resourceGroup().id, environmentName)

@description('Tags on every resource.')
param tags object = {}

// ---------------------------------------------------------------------------------------------------------------
// SKUs and sizes
// ---------------------------------------------------------------------------------------------------------------

@description('Redundancy of the data storage account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
  'Standard_RAGRS'
  'Standard_RAGZRS'
])
param storageSku string = 'Standard_LRS'

@description('Key Vault SKU.')
@allowed([
  'standard'
  'premium'
])
param keyVaultSku string = 'standard'

@description('Container registry SKU.')
@allowed([
  'Basic'
  'Standard'
  'Premium'
])
param containerRegistrySku string = 'Basic'

@description('Instance memory of the training app (MB).')
@allowed([
  512
  2048
  4096
])
param trainingInstanceMemoryMB int = 2048

@description('Maximum instances of the training app.')
@minValue(1)
@maxValue(1000)
param trainingMaximumInstanceCount int = 40

@description('Instance memory of the prediction app (MB): the ONNX sessions of the published models live here.')
@allowed([
  512
  2048
  4096
])
param predictionInstanceMemoryMB int = 2048

@description('Maximum instances of the prediction app.')
@minValue(1)
@maxValue(1000)
param predictionMaximumInstanceCount int = 100

@description('Requests a second one Training-Key may make to one instance of the training app (CVSTUDIO_TRAINING_RATE_LIMIT; Custom Vision S0: 10); over it, 429 with Retry-After. Per instance: scaled out, N times that. 0: no limit.')
@minValue(0)
@maxValue(10000)
param trainingRateLimit int = 10

@description('Requests a second one Prediction-Key may make to one instance of the prediction app (CVSTUDIO_PREDICTION_RATE_LIMIT; Custom Vision S0: 10 stored, 20 with nostore); over it, 429 with Retry-After. Per instance. 0: no limit.')
@minValue(0)
@maxValue(10000)
param predictionRateLimit int = 10

@description('The training image (built from Dockerfile.training), e.g. <registry>.azurecr.io/cvstudio-training:<tag>. The default is a public placeholder until the first push; deploy again with the pushed image.')
param trainingImage string = 'mcr.microsoft.com/k8se/quickstart-jobs:latest'

@description('vCPUs of one training execution (Consumption workload profile: up to 4).')
@allowed([
  '1'
  '2'
  '4'
])
param trainingJobCpu string = '4'

@description('Memory of one training execution (2 GiB per vCPU on the Consumption profile).')
@allowed([
  '2Gi'
  '4Gi'
  '8Gi'
])
param trainingJobMemory string = '8Gi'

@description('Longest a training execution may run (seconds); Advanced training is capped 15 minutes below it.')
@minValue(1800)
@maxValue(86400)
param trainingJobTimeoutSeconds int = 14400

@description('Days of log retention in Log Analytics.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

// ---------------------------------------------------------------------------------------------------------------
// Names: of resources, and of what the product uses inside them (shared/settings.py defaults)
// ---------------------------------------------------------------------------------------------------------------

var names = {
  trainingApp: 'func-${environmentName}-training-${nameSuffix}'
  predictionApp: 'func-${environmentName}-prediction-${nameSuffix}'
  trainingIdentity: 'id-${environmentName}-training-${nameSuffix}'
  predictionIdentity: 'id-${environmentName}-prediction-${nameSuffix}'
  trainerIdentity: 'id-${environmentName}-trainer-${nameSuffix}'
  dataStorage: take('st${environmentName}${nameSuffix}', 24)
  hostStorage: take('stfn${environmentName}${nameSuffix}', 24)
  cosmos: 'cosmos-${environmentName}-${nameSuffix}'
  keyVault: take('kv-${environmentName}-${nameSuffix}', 24)
  registry: take('cr${environmentName}${nameSuffix}', 50)
  containerAppsEnvironment: 'cae-${environmentName}-${nameSuffix}'
  trainingJob: take('caj-${environmentName}-train', 32)
  logAnalytics: 'log-${environmentName}-${nameSuffix}'
  appInsights: 'appi-${environmentName}-${nameSuffix}'
  storageEvents: 'evgt-${environmentName}-${nameSuffix}'
}

var containerPrefix = 'cvstudio-'
var imagesContainerName = '${containerPrefix}images'
var modelsContainerName = '${containerPrefix}models'
var filesContainerName = '${containerPrefix}files'
// The drop folder (CVSTUDIO_DROP_CONTAINER, read by the blob trigger's path).
var dropContainerName = 'cvstudio-drop'
var trainingQueueName = 'cvstudio-training'
var cosmosDatabaseName = 'cvstudio'
// shared/stores/azure/cosmos_metadata.py: one container, "documents", partitioned by /projectId.
var cosmosContainerName = 'documents'
var trainingKeySecretName = 'cvstudio-training-key'
var predictionKeySecretName = 'cvstudio-prediction-key'
var trainingKey2SecretName = 'cvstudio-training-key-2'
var predictionKey2SecretName = 'cvstudio-prediction-key-2'
var trainingDeploymentContainerName = 'app-package-training'
var predictionDeploymentContainerName = 'app-package-prediction'
var cosmosDataContributor = '00000000-0000-0000-0000-000000000002'
var acrPull = '7f951dda-4ed3-4680-a7ca-43fe172d538d'

// ---------------------------------------------------------------------------------------------------------------
// Identities: one per app and one for the training job
// ---------------------------------------------------------------------------------------------------------------

module trainingIdentity 'br/public:avm/res/managed-identity/user-assigned-identity:0.6.0' = {
  name: 'training-identity'
  params: {
    name: names.trainingIdentity
    location: location
    tags: tags
  }
}

module predictionIdentity 'br/public:avm/res/managed-identity/user-assigned-identity:0.6.0' = {
  name: 'prediction-identity'
  params: {
    name: names.predictionIdentity
    location: location
    tags: tags
  }
}

module trainerIdentity 'br/public:avm/res/managed-identity/user-assigned-identity:0.6.0' = {
  name: 'trainer-identity'
  params: {
    name: names.trainerIdentity
    location: location
    tags: tags
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Monitoring
// ---------------------------------------------------------------------------------------------------------------

module logAnalytics 'br/public:avm/res/operational-insights/workspace:0.16.1' = {
  name: 'log-analytics'
  params: {
    name: names.logAnalytics
    location: location
    tags: tags
    dataRetention: logRetentionDays
  }
}

module appInsights 'br/public:avm/res/insights/component:0.8.0' = {
  name: 'app-insights'
  params: {
    name: names.appInsights
    location: location
    tags: tags
    workspaceResourceId: logAnalytics.outputs.resourceId
    // Entra ID ingestion only: the apps publish with their identity (Monitoring Metrics Publisher, app/rbac.bicep).
    disableLocalAuth: true
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Storage: the product's data, and the function hosts' own account (no product data there)
// ---------------------------------------------------------------------------------------------------------------

module dataStorage 'br/public:avm/res/storage/storage-account:0.33.0' = {
  name: 'data-storage'
  params: {
    name: names.dataStorage
    location: location
    tags: tags
    skuName: storageSku
    kind: 'StorageV2'
    allowBlobPublicAccess: false
    // Every reader is an identity (apps, triggers, trainer): no account keys, no SAS signed with them.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    // Flex Consumption apps without a virtual network reach the account over its public endpoint.
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    blobServices: {
      containerDeleteRetentionPolicyEnabled: true
      containerDeleteRetentionPolicyDays: 7
      deleteRetentionPolicyEnabled: true
      deleteRetentionPolicyDays: 7
      containers: [
        {
          name: imagesContainerName
          publicAccess: 'None'
        }
        {
          name: modelsContainerName
          publicAccess: 'None'
        }
        {
          name: filesContainerName
          publicAccess: 'None'
        }
        {
          name: dropContainerName
          publicAccess: 'None'
        }
      ]
    }
    queueServices: {
      queues: [
        {
          name: trainingQueueName
        }
        {
          // Where the Functions host moves a training message that failed five times.
          name: '${trainingQueueName}-poison'
        }
      ]
    }
  }
}

module hostStorage 'br/public:avm/res/storage/storage-account:0.33.0' = {
  name: 'host-storage'
  params: {
    name: names.hostStorage
    location: location
    tags: tags
    skuName: 'Standard_LRS'
    kind: 'StorageV2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    blobServices: {
      containers: [
        {
          name: trainingDeploymentContainerName
          publicAccess: 'None'
        }
        {
          name: predictionDeploymentContainerName
          publicAccess: 'None'
        }
      ]
    }
  }
}

// The drop folder's blob trigger (the Event Grid source: the only one on Flex Consumption) subscribes to this topic
// once the code is published, because the subscription's webhook needs the blobs_extension key that the Functions
// host makes on first start: drop-folder-events.bicep, README.md "Run on Azure".
resource storageEvents 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: names.storageEvents
  location: location
  tags: tags
  properties: {
    source: dataStorage.outputs.resourceId
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Cosmos DB (serverless): the database and the one container the product uses, made here because an identity
// with the data-plane role may read but not create them. The data-plane role is assigned here (sqlRoleAssignments).
// ---------------------------------------------------------------------------------------------------------------

module cosmos 'br/public:avm/res/document-db/database-account:0.20.1' = {
  name: 'cosmos'
  params: {
    name: names.cosmos
    location: location
    tags: tags
    capabilitiesToAdd: [
      'EnableServerless'
    ]
    // Serverless accounts are single-region; the module's default (true) is refused without zone support.
    zoneRedundant: false
    enableAutomaticFailover: false
    // Entra ID only: no account keys (the product's client takes DefaultAzureCredential when no key is set).
    disableLocalAuthentication: true
    disableKeyBasedMetadataWriteAccess: true
    minimumTlsVersion: 'Tls12'
    backupPolicyType: 'Periodic'
    backupStorageRedundancy: 'Local'
    // The module's default is no public access, which the apps (no virtual network) could not reach.
    networkRestrictions: {
      publicNetworkAccess: 'Enabled'
      ipRules: []
      virtualNetworkRules: []
      networkAclBypass: 'None'
    }
    sqlDatabases: [
      {
        name: cosmosDatabaseName
        containers: [
          {
            name: cosmosContainerName
            paths: [
              '/projectId'
            ]
            kind: 'Hash'
          }
        ]
      }
    ]
    sqlRoleAssignments: [
      {
        roleDefinitionId: cosmosDataContributor
        principalId: trainingIdentity.outputs.principalId
      }
      {
        roleDefinitionId: cosmosDataContributor
        principalId: predictionIdentity.outputs.principalId
      }
      {
        roleDefinitionId: cosmosDataContributor
        principalId: trainerIdentity.outputs.principalId
      }
    ]
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Key Vault: the keys, two per role (RBAC mode; each identity may read only the secrets it needs, app/rbac.bicep)
// ---------------------------------------------------------------------------------------------------------------

module keyVault 'br/public:avm/res/key-vault/vault:0.14.0' = {
  name: 'key-vault'
  params: {
    name: names.keyVault
    location: location
    tags: tags
    sku: keyVaultSku
    enableRbacAuthorization: true
    enablePurgeProtection: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enableVaultForDeployment: false
    enableVaultForTemplateDeployment: false
    enableVaultForDiskEncryption: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    secrets: [
      {
        name: trainingKeySecretName
        value: trainingKey
        contentType: 'text/plain'
      }
      {
        name: predictionKeySecretName
        value: predictionKey
        contentType: 'text/plain'
      }
      {
        name: trainingKey2SecretName
        value: trainingKey2
        contentType: 'text/plain'
      }
      {
        name: predictionKey2SecretName
        value: predictionKey2
        contentType: 'text/plain'
      }
    ]
  }
}

// Unversioned secret URIs: a key changed in Key Vault reaches the apps within a day, or at their next restart.
var trainingKeySecretUri = '${keyVault.outputs.uri}secrets/${trainingKeySecretName}'
var predictionKeySecretUri = '${keyVault.outputs.uri}secrets/${predictionKeySecretName}'
var trainingKey2SecretUri = '${keyVault.outputs.uri}secrets/${trainingKey2SecretName}'
var predictionKey2SecretUri = '${keyVault.outputs.uri}secrets/${predictionKey2SecretName}'

// ---------------------------------------------------------------------------------------------------------------
// The registry of the training image: the job pulls with its own identity (AcrPull), never with an admin user.
// ---------------------------------------------------------------------------------------------------------------

module containerRegistry 'br/public:avm/res/container-registry/registry:0.12.1' = {
  name: 'container-registry'
  params: {
    name: names.registry
    location: location
    tags: tags
    acrSku: containerRegistrySku
    acrAdminUserEnabled: false
    anonymousPullEnabled: false
    roleAssignments: [
      {
        roleDefinitionIdOrName: acrPull
        principalId: trainerIdentity.outputs.principalId
        principalType: 'ServicePrincipal'
      }
    ]
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Least-privilege data roles (storage, Key Vault secrets, Application Insights); the job's starter role comes after
// the job (app/job-starter.bicep).
// ---------------------------------------------------------------------------------------------------------------

module rbac 'app/rbac.bicep' = {
  name: 'role-assignments'
  params: {
    trainingPrincipalId: trainingIdentity.outputs.principalId
    predictionPrincipalId: predictionIdentity.outputs.principalId
    trainerPrincipalId: trainerIdentity.outputs.principalId
    dataStorageName: dataStorage.outputs.name
    hostStorageName: hostStorage.outputs.name
    keyVaultName: keyVault.outputs.name
    trainingKeySecretName: trainingKeySecretName
    predictionKeySecretName: predictionKeySecretName
    trainingKey2SecretName: trainingKey2SecretName
    predictionKey2SecretName: predictionKey2SecretName
    appInsightsName: appInsights.outputs.name
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The training job: a manual Container Apps job; the training app starts one execution per iteration with
// `cvstudio train-iteration <project> <iteration>` (the arguments given per execution).
// ---------------------------------------------------------------------------------------------------------------

module containerAppsEnvironment 'br/public:avm/res/app/managed-environment:0.15.0' = {
  name: 'container-apps-environment'
  params: {
    name: names.containerAppsEnvironment
    location: location
    tags: tags
    // No subnet here, so no zone redundancy (the module's default needs one); the job has no ingress, so the
    // environment's public access opens nothing.
    zoneRedundant: false
    publicNetworkAccess: 'Enabled'
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsWorkspaceResourceId: logAnalytics.outputs.resourceId
    }
  }
}

module trainingJob 'br/public:avm/res/app/job:0.7.2' = {
  name: 'training-job'
  params: {
    name: names.trainingJob
    location: location
    tags: tags
    environmentResourceId: containerAppsEnvironment.outputs.resourceId
    workloadProfileName: 'Consumption'
    triggerType: 'Manual'
    manualTriggerConfig: {
      parallelism: 1
      replicaCompletionCount: 1
    }
    // The training app's handler counts attempts and ends a dead trainer's iteration Failed: no blind retries.
    replicaRetryLimit: 0
    replicaTimeout: trainingJobTimeoutSeconds
    managedIdentities: {
      userAssignedResourceIds: [
        trainerIdentity.outputs.resourceId
      ]
    }
    registries: [
      {
        server: containerRegistry.outputs.loginServer
        identity: trainerIdentity.outputs.resourceId
      }
    ]
    // The trainer runs with CVSTUDIO_ROLE=training, whose settings require the training key on Azure: read from
    // Key Vault by the job's identity, never stored in the job.
    secrets: [
      {
        name: 'training-key'
        keyVaultUrl: trainingKeySecretUri
        identity: trainerIdentity.outputs.resourceId
      }
    ]
    containers: [
      {
        name: 'trainer'
        image: trainingImage
        command: [
          'cvstudio'
          'train-iteration'
        ]
        resources: {
          cpu: trainingJobCpu
          memory: trainingJobMemory
        }
        env: [
          {
            name: 'AZURE_CLIENT_ID'
            value: trainerIdentity.outputs.clientId
          }
          {
            name: 'CVSTUDIO_ROLE'
            value: 'training'
          }
          {
            name: 'CVSTUDIO_TRAINING_KEY'
            secretRef: 'training-key'
          }
          {
            name: 'CVSTUDIO_STORAGE__blobServiceUri'
            value: dataStorage.outputs.serviceEndpoints.blob
          }
          {
            name: 'CVSTUDIO_STORAGE__queueServiceUri'
            value: dataStorage.outputs.serviceEndpoints.queue
          }
          {
            name: 'CVSTUDIO_COSMOS_ENDPOINT'
            value: cosmos.outputs.endpoint
          }
          {
            name: 'CVSTUDIO_COSMOS_DATABASE'
            value: cosmosDatabaseName
          }
          {
            name: 'CVSTUDIO_STORAGE_CONTAINER_PREFIX'
            value: containerPrefix
          }
          {
            name: 'CVSTUDIO_TRAINING_QUEUE'
            value: trainingQueueName
          }
          {
            name: 'CVSTUDIO_ADVANCED_TRAINING_CAP_SECONDS'
            value: string(trainingJobTimeoutSeconds - 900)
          }
        ]
      }
    ]
  }
  dependsOn: [
    rbac
  ]
}

// Only what starting an execution needs, on the job alone: a custom role for the training app's identity.
module jobStarter 'app/job-starter.bicep' = {
  name: 'job-starter-role'
  params: {
    jobName: trainingJob.outputs.name
    principalId: trainingIdentity.outputs.principalId
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The two function apps: the same code, the role set here
// ---------------------------------------------------------------------------------------------------------------

// What both roles read (shared/settings.py): the stores by identity, in the Functions identity-connection
// convention, so the triggers' connection "CVSTUDIO_STORAGE" and the product's clients read the same settings.
var storeSettings = {
  CVSTUDIO_STORAGE__blobServiceUri: dataStorage.outputs.serviceEndpoints.blob
  CVSTUDIO_STORAGE__queueServiceUri: dataStorage.outputs.serviceEndpoints.queue
  CVSTUDIO_STORAGE__credential: 'managedidentity'
  CVSTUDIO_COSMOS_ENDPOINT: cosmos.outputs.endpoint
  CVSTUDIO_COSMOS_DATABASE: cosmosDatabaseName
  CVSTUDIO_STORAGE_CONTAINER_PREFIX: containerPrefix
  CVSTUDIO_TRAINING_QUEUE: trainingQueueName
  CVSTUDIO_DROP_CONTAINER: dropContainerName
}

// Image links are built on the request's host (shared/api/hosts.py). App Service's front ends pass a request to an
// app only for a host name bound to it (its default name, or a custom domain added later), so whatever Host
// arrives is the app's own: every name is allowed, and a custom domain needs no change here.
var appHosts = '*'

module trainingApp 'app/function-app.bicep' = {
  name: 'training-app'
  params: {
    name: names.trainingApp
    location: location
    tags: tags
    role: 'training'
    instanceMemoryMB: trainingInstanceMemoryMB
    maximumInstanceCount: trainingMaximumInstanceCount
    identityResourceId: trainingIdentity.outputs.resourceId
    identityClientId: trainingIdentity.outputs.clientId
    hostBlobEndpoint: hostStorage.outputs.serviceEndpoints.blob
    hostQueueEndpoint: hostStorage.outputs.serviceEndpoints.queue
    deploymentContainerName: trainingDeploymentContainerName
    applicationInsightsResourceId: appInsights.outputs.resourceId
    appSettings: union(storeSettings, {
      CVSTUDIO_ROLE: 'training'
      CVSTUDIO_TRAINING_KEY: '@Microsoft.KeyVault(SecretUri=${trainingKeySecretUri})'
      CVSTUDIO_TRAINING_KEY_2: '@Microsoft.KeyVault(SecretUri=${trainingKey2SecretUri})'
      CVSTUDIO_ALLOWED_HOSTS: appHosts
      CVSTUDIO_STORAGE__clientId: trainingIdentity.outputs.clientId
      CVSTUDIO_TRAINING_RUNNER: 'container-apps'
      CVSTUDIO_TRAINING_JOB_ID: trainingJob.outputs.resourceId
      CVSTUDIO_TRAINING_RATE_LIMIT: string(trainingRateLimit)
    })
  }
  dependsOn: [
    rbac
    jobStarter
  ]
}

module predictionApp 'app/function-app.bicep' = {
  name: 'prediction-app'
  params: {
    name: names.predictionApp
    location: location
    tags: tags
    role: 'prediction'
    instanceMemoryMB: predictionInstanceMemoryMB
    maximumInstanceCount: predictionMaximumInstanceCount
    identityResourceId: predictionIdentity.outputs.resourceId
    identityClientId: predictionIdentity.outputs.clientId
    hostBlobEndpoint: hostStorage.outputs.serviceEndpoints.blob
    hostQueueEndpoint: ''
    deploymentContainerName: predictionDeploymentContainerName
    applicationInsightsResourceId: appInsights.outputs.resourceId
    appSettings: union(storeSettings, {
      CVSTUDIO_ROLE: 'prediction'
      CVSTUDIO_PREDICTION_KEY: '@Microsoft.KeyVault(SecretUri=${predictionKeySecretUri})'
      CVSTUDIO_PREDICTION_KEY_2: '@Microsoft.KeyVault(SecretUri=${predictionKey2SecretUri})'
      CVSTUDIO_ALLOWED_HOSTS: appHosts
      CVSTUDIO_STORAGE__clientId: predictionIdentity.outputs.clientId
      CVSTUDIO_PREDICTION_RATE_LIMIT: string(predictionRateLimit)
    })
  }
  dependsOn: [
    rbac
  ]
}

// ---------------------------------------------------------------------------------------------------------------
// Outputs: endpoints and names only (never a key: the keys are the ones you generated)
// ---------------------------------------------------------------------------------------------------------------

@description('The Custom Vision training endpoint (use it with the training key).')
output trainingEndpoint string = 'https://${trainingApp.outputs.defaultHostname}'

@description('The Custom Vision prediction endpoint (use it with the prediction key).')
output predictionEndpoint string = 'https://${predictionApp.outputs.defaultHostname}'

@description('`func azure functionapp publish <this>` for the training role.')
output trainingAppName string = trainingApp.outputs.name

@description('`func azure functionapp publish <this>` for the prediction role.')
output predictionAppName string = predictionApp.outputs.name

@description('Where `az acr build` pushes the training image.')
output containerRegistryName string = containerRegistry.outputs.name

@description('The registry\'s login server (the training image is <this>/cvstudio-training:<tag>).')
output containerRegistryLoginServer string = containerRegistry.outputs.loginServer

@description('The Container Apps job that trains one iteration per execution.')
output trainingJobName string = trainingJob.outputs.name

@description('The data storage account.')
output storageAccountName string = dataStorage.outputs.name

@description('The drop-folder container.')
output dropContainerName string = dropContainerName

@description('The Event Grid system topic the drop folder\'s blob trigger subscribes to (drop-folder-events.bicep).')
output storageEventsTopicName string = storageEvents.name

@description('The Key Vault that holds the keys (two per role).')
output keyVaultName string = keyVault.outputs.name

@description('The Cosmos DB endpoint.')
output cosmosEndpoint string = cosmos.outputs.endpoint
