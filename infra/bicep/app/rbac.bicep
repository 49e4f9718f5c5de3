// Least-privilege Azure RBAC for the three identities, each role on the narrowest scope that works:
//
//   training app  data storage: Storage Blob Data Owner (the blob trigger needs Owner) and Storage Queue Data
//                 Contributor (the blob trigger's internal queues; the training queue: send, receive, create);
//                 host storage: Storage Blob Data Owner + Storage Queue Data Contributor (AzureWebJobsStorage,
//                 the deployment package); its own keys' secrets: Key Vault Secrets User; Application Insights:
//                 Monitoring Metrics Publisher.
//   prediction    data storage: Storage Blob Data Contributor (models and images read, stored predictions written);
//   app           host storage: Storage Blob Data Owner; its own keys' secrets; Monitoring Metrics Publisher.
//   trainer (job) data storage: Storage Blob Data Contributor; the training key's secret (its settings require the
//                 key on Azure). AcrPull is given on the registry (main.bicep), the Cosmos DB data-plane role by
//                 sqlRoleAssignments (main.bicep), the right to start the job by job-starter.bicep.

@description('Principal (object) id of the training app\'s identity.')
param trainingPrincipalId string

@description('Principal (object) id of the prediction app\'s identity.')
param predictionPrincipalId string

@description('Principal (object) id of the training job\'s identity.')
param trainerPrincipalId string

param dataStorageName string
param hostStorageName string
param keyVaultName string
param trainingKeySecretName string
param predictionKeySecretName string
param trainingKey2SecretName string
param predictionKey2SecretName string
param appInsightsName string

var roles = {
  blobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  blobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  queueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource dataStorage 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: dataStorageName
}

resource hostStorage 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: hostStorageName
}

resource keyVault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: keyVaultName
}

resource trainingKeySecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' existing = {
  parent: keyVault
  name: trainingKeySecretName
}

resource predictionKeySecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' existing = {
  parent: keyVault
  name: predictionKeySecretName
}

resource trainingKey2Secret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' existing = {
  parent: keyVault
  name: trainingKey2SecretName
}

resource predictionKey2Secret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' existing = {
  parent: keyVault
  name: predictionKey2SecretName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// Training app -------------------------------------------------------------------------------------------------

resource trainingDataBlob 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dataStorage.id, trainingPrincipalId, roles.blobDataOwner)
  scope: dataStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataOwner)
    principalId: trainingPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource trainingDataQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dataStorage.id, trainingPrincipalId, roles.queueDataContributor)
  scope: dataStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.queueDataContributor)
    principalId: trainingPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource trainingHostBlob 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, trainingPrincipalId, roles.blobDataOwner)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataOwner)
    principalId: trainingPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource trainingHostQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, trainingPrincipalId, roles.queueDataContributor)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.queueDataContributor)
    principalId: trainingPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource trainingSecretUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(trainingKeySecret.id, trainingPrincipalId, roles.keyVaultSecretsUser)
  scope: trainingKeySecret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: trainingPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource trainingSecret2User 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(trainingKey2Secret.id, trainingPrincipalId, roles.keyVaultSecretsUser)
  scope: trainingKey2Secret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: trainingPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource trainingMetrics 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, trainingPrincipalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: trainingPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Prediction app -----------------------------------------------------------------------------------------------

resource predictionDataBlob 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dataStorage.id, predictionPrincipalId, roles.blobDataContributor)
  scope: dataStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataContributor)
    principalId: predictionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource predictionHostBlob 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, predictionPrincipalId, roles.blobDataOwner)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataOwner)
    principalId: predictionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource predictionSecretUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(predictionKeySecret.id, predictionPrincipalId, roles.keyVaultSecretsUser)
  scope: predictionKeySecret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: predictionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource predictionSecret2User 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(predictionKey2Secret.id, predictionPrincipalId, roles.keyVaultSecretsUser)
  scope: predictionKey2Secret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: predictionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource predictionMetrics 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, predictionPrincipalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: predictionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Training job -------------------------------------------------------------------------------------------------

resource trainerDataBlob 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dataStorage.id, trainerPrincipalId, roles.blobDataContributor)
  scope: dataStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataContributor)
    principalId: trainerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource trainerSecretUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(trainingKeySecret.id, trainerPrincipalId, roles.keyVaultSecretsUser)
  scope: trainingKeySecret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: trainerPrincipalId
    principalType: 'ServicePrincipal'
  }
}
