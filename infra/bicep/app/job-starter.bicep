// The right to start the training job and follow its executions, and nothing more, for the training app's identity.
// The built-in Container Apps Jobs Operator role would do, but it also matches jobs/listsecrets/action (and exec and
// log streams); this custom role has only the four actions the Container Apps launcher uses, assigned on the job.

@description('The training job.')
param jobName string

@description('Principal (object) id of the training app\'s identity.')
param principalId string

resource job 'Microsoft.App/jobs@2025-01-01' existing = {
  name: jobName
}

resource starterRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'cvstudio-training-job-starter')
  properties: {
    roleName: 'cvstudio training job starter (${uniqueString(resourceGroup().id)})'
    description: 'Start executions of the cvstudio training job and read their status.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.App/jobs/read'
          'Microsoft.App/jobs/start/action'
          'Microsoft.App/jobs/execution/read'
          'Microsoft.App/jobs/executions/read'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

resource starterAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(job.id, principalId, starterRole.id)
  scope: job
  properties: {
    roleDefinitionId: starterRole.id
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
